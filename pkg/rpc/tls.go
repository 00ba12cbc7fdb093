package rpc

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
)

// loadCertPool reads PEM certificates from path.
func loadCertPool(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("rpc: read CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("rpc: CA file %s holds no PEM certificate", path)
	}
	return pool, nil
}

func loadKeyPair(certFile, keyFile string) (tls.Certificate, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("rpc: load key pair %s, %s: %w", certFile, keyFile, err)
	}
	return cert, nil
}

// serverTLS builds the server's TLS config from the files: nil without a
// certificate (plaintext), TLS with one, mTLS with a client CA.
func serverTLS(cfg ServerConfig) (*tls.Config, error) {
	if cfg.TLSConfig != nil {
		return cfg.TLSConfig.Clone(), nil
	}
	if cfg.CertFile == "" {
		return nil, nil
	}
	cert, err := loadKeyPair(cfg.CertFile, cfg.KeyFile)
	if err != nil {
		return nil, err
	}
	tc := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
	}
	if cfg.ClientCAFile != "" {
		pool, err := loadCertPool(cfg.ClientCAFile)
		if err != nil {
			return nil, err
		}
		tc.ClientCAs = pool
		tc.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return tc, nil
}

// clientTLS builds the client's TLS config: nil for plaintext.
func clientTLS(cfg DialConfig) (*tls.Config, error) {
	if cfg.TLSConfig != nil {
		return cfg.TLSConfig.Clone(), nil
	}
	if !cfg.TLS && cfg.CAFile == "" && cfg.CertFile == "" {
		return nil, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: cfg.ServerName}
	if cfg.CAFile != "" {
		pool, err := loadCertPool(cfg.CAFile)
		if err != nil {
			return nil, err
		}
		tc.RootCAs = pool // nil RootCAs means the system roots
	}
	if cfg.CertFile != "" {
		cert, err := loadKeyPair(cfg.CertFile, cfg.KeyFile)
		if err != nil {
			return nil, err
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

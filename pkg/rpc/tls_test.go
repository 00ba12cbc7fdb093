package rpc

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/strata-log/strata/pkg/api/stratav1"
)

// testCA is a throwaway certificate authority.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	file string // the CA certificate, PEM
}

var serial int64

func newTestCA(t *testing.T, dir, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial++
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serial),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, name+"-ca.pem")
	writePEM(t, file, "CERTIFICATE", der)
	return &testCA{cert: cert, key: key, file: file}
}

// issue signs a leaf certificate for 127.0.0.1 and returns its cert and key
// files.
func (ca *testCA) issue(t *testing.T, dir, name string, usage x509.ExtKeyUsage) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile = filepath.Join(dir, name+".pem")
	keyFile = filepath.Join(dir, name+"-key.pem")
	writePEM(t, certFile, "CERTIFICATE", der)
	writePEM(t, keyFile, "EC PRIVATE KEY", keyDER)
	return certFile, keyFile
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func describe(t *testing.T, addr string, cfg DialConfig) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	_, err := stratav1.NewAdminServiceClient(dial(t, addr, cfg)).DescribeCluster(ctx, &stratav1.DescribeClusterRequest{})
	return err
}

func TestMutualTLS(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t, dir, "strata")
	serverCert, serverKey := ca.issue(t, dir, "broker", x509.ExtKeyUsageServerAuth)
	clientCert, clientKey := ca.issue(t, dir, "client", x509.ExtKeyUsageClientAuth)
	other := newTestCA(t, dir, "other")
	strangerCert, strangerKey := other.issue(t, dir, "stranger", x509.ExtKeyUsageClientAuth)

	ts := startServer(t, ServerConfig{CertFile: serverCert, KeyFile: serverKey, ClientCAFile: ca.file})

	// No client certificate: the handshake fails and no handler runs.
	err := describe(t, ts.addr, DialConfig{CAFile: ca.file})
	if status.Code(err) != codes.Unavailable {
		t.Errorf("without a client cert: %v, want Unavailable", err)
	}
	// A certificate from another CA: refused too.
	err = describe(t, ts.addr, DialConfig{CAFile: ca.file, CertFile: strangerCert, KeyFile: strangerKey})
	if status.Code(err) != codes.Unavailable {
		t.Errorf("with a stranger's cert: %v, want Unavailable", err)
	}
	// Plaintext: refused.
	if err := describe(t, ts.addr, DialConfig{}); status.Code(err) != codes.Unavailable {
		t.Errorf("plaintext to an mTLS server: %v, want Unavailable", err)
	}
	if n := ts.admin.calls.Load(); n != 0 {
		t.Fatalf("a handler ran %d times for refused clients", n)
	}
	// With the right certificate: served.
	if err := describe(t, ts.addr, DialConfig{CAFile: ca.file, CertFile: clientCert, KeyFile: clientKey}); err != nil {
		t.Fatalf("with a client cert: %v", err)
	}
	// A client that does not trust the server's CA refuses the server.
	if err := describe(t, ts.addr, DialConfig{CAFile: other.file, CertFile: clientCert, KeyFile: clientKey}); status.Code(err) != codes.Unavailable {
		t.Errorf("client with the wrong CA: %v, want Unavailable", err)
	}
	if n := ts.admin.calls.Load(); n != 1 {
		t.Fatalf("handler ran %d times, want 1", n)
	}
}

func TestServerTLSWithoutClientAuth(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t, dir, "strata")
	serverCert, serverKey := ca.issue(t, dir, "broker", x509.ExtKeyUsageServerAuth)
	ts := startServer(t, ServerConfig{CertFile: serverCert, KeyFile: serverKey})
	if err := describe(t, ts.addr, DialConfig{CAFile: ca.file}); err != nil {
		t.Fatalf("TLS without a client cert: %v", err)
	}
	// TLSConfig instead of files, on both sides.
	pool, err := loadCertPool(ca.file)
	if err != nil {
		t.Fatal(err)
	}
	if err := describe(t, ts.addr, DialConfig{TLSConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}); err != nil {
		t.Fatalf("with DialConfig.TLSConfig: %v", err)
	}
	if _, err := NewServer(ServerConfig{TLSConfig: &tls.Config{}, CertFile: serverCert, KeyFile: serverKey}); err == nil {
		t.Error("TLSConfig together with files accepted")
	}
	if _, err := Dial(ts.addr, DialConfig{TLSConfig: &tls.Config{}, CAFile: ca.file}); err == nil {
		t.Error("DialConfig.TLSConfig together with files accepted")
	}
	// A CA file without certificates.
	empty := filepath.Join(dir, "empty.pem")
	if err := os.WriteFile(empty, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := NewServer(ServerConfig{CertFile: serverCert, KeyFile: serverKey, ClientCAFile: empty}); err == nil {
		t.Error("an empty client CA file accepted")
	}
}

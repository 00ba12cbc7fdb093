// Package e2e runs end-to-end tests over the real binaries: it builds
// strata-controller and strata, runs the daemons as processes on loopback
// ports and drives them through the command line, as a user would.
package e2e

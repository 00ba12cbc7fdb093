// Package tests holds Strata's cross-component tests: the in-process
// cluster harness and end-to-end tests over the real binaries.
package tests

package main

import (
	"testing"
	"time"
)

func TestParseFlagsRequiresTLSAndKey(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"--tls-dir", "d"},
		{"--jwt-public-key", "k"},
		{"--tls-dir", "d", "--jwt-public-key", "k", "--ip", "example.com"},
		{"--tls-dir", "d", "--jwt-public-key", "k", "extra"},
		{"--tls-dir", "d", "--jwt-public-key", "k", "--namespace", ""},
	} {
		if _, err := parseFlags(args); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}

func TestParseFlagsDefaults(t *testing.T) {
	f, err := parseFlags([]string{"--tls-dir", "d", "--jwt-public-key", "k", "--ip", "localhost", "--log-level", "error"})
	if err != nil {
		t.Fatal(err)
	}
	if f.ip != "127.0.0.1" || f.port != 7233 || f.namespace != "default" || f.uiPort != 0 || f.httpPort != 0 ||
		f.metricsPort != 0 || f.authLogLevel != "error" || f.taskTokenTTL != 24*time.Hour || f.taskTokenMax != 100_000 {
		t.Errorf("defaults: %+v", f)
	}
}

func TestFrontendDialHost(t *testing.T) {
	for in, want := range map[string]string{"0.0.0.0": "127.0.0.1", "::": "::1", "127.0.0.1": "127.0.0.1", "10.1.2.3": "10.1.2.3"} {
		if got := frontendDialHost(in); got != want {
			t.Errorf("%s: got %s, want %s", in, got, want)
		}
	}
}

// bp-temporal is the backup platform's Temporal server: `temporal server start-dev` (same server version,
// SQLite, Web UI) with the frontend closed to everyone but the platform and each site's own task queue.
// See README.md for the flags, the token format and what each role may call.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"bp-temporal/auth"

	"go.temporal.io/server/common/log"
	"google.golang.org/grpc"
)

type flags struct {
	ip, namespace, dbFile, logLevel, authLogLevel, tlsDir, jwtKeyFile string
	port, httpPort, metricsPort, uiPort, taskTokenMax                 int
	taskTokenTTL                                                      time.Duration
}

func parseFlags(args []string) (*flags, error) {
	f := &flags{}
	fs := flag.NewFlagSet("bp-temporal", flag.ContinueOnError)
	fs.StringVar(&f.ip, "ip", "127.0.0.1", "IP the frontend gRPC (and HTTP) API listens on")
	fs.IntVar(&f.port, "port", 7233, "frontend gRPC port (TLS only)")
	fs.IntVar(&f.httpPort, "http-port", 0, "frontend HTTP API port, same TLS and authorization (0 = off)")
	fs.IntVar(&f.metricsPort, "metrics-port", 0, "Prometheus metrics port on 127.0.0.1 (0 = off)")
	fs.IntVar(&f.uiPort, "ui-port", 0, "Web UI port on 127.0.0.1 (0 = no Web UI)")
	fs.StringVar(&f.dbFile, "db-filename", "", "SQLite database file (empty = in memory)")
	fs.StringVar(&f.namespace, "namespace", "default", "namespace created at start")
	fs.StringVar(&f.logLevel, "log-level", "warn", "server log level: debug, info, warn, error")
	fs.StringVar(&f.authLogLevel, "auth-log-level", "", "level of the bp-auth decision log: denials are logged "+
		"at info, allowed calls at debug (default: --log-level)")
	fs.StringVar(&f.tlsDir, "tls-dir", "", "folder with ca.pem, ca-key.pem, server.pem, server-key.pem (made when missing)")
	fs.StringVar(&f.jwtKeyFile, "jwt-public-key", "", "PEM Ed25519 public key(s) the API's tokens are signed with")
	fs.DurationVar(&f.taskTokenTTL, "task-token-ttl", 24*time.Hour, "how long a site may answer a task after its poll or last heartbeat")
	fs.IntVar(&f.taskTokenMax, "task-token-max", 100_000, "most activity task tokens remembered for sites")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if f.ip == "localhost" {
		f.ip = loopback // the server wants an IP
	}
	if net.ParseIP(f.ip) == nil {
		return nil, fmt.Errorf("--ip %q is not an IP address", f.ip)
	}
	if f.tlsDir == "" || f.jwtKeyFile == "" {
		return nil, errors.New("--tls-dir and --jwt-public-key are required: this server never runs without TLS and tokens")
	}
	if f.namespace == "" || f.port <= 0 || f.taskTokenTTL <= 0 || f.taskTokenMax <= 0 {
		return nil, errors.New("--namespace, --port, --task-token-ttl and --task-token-max must be set")
	}
	if f.authLogLevel == "" {
		f.authLogLevel = f.logLevel
	}
	return f, nil
}

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "bp-temporal:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	f, err := parseFlags(args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	logger := newLogger(f.logLevel)
	keys, err := auth.LoadPublicKeys(f.jwtKeyFile)
	if err != nil {
		return err
	}
	c, err := makeCerts(f.tlsDir)
	if err != nil {
		return fmt.Errorf("TLS: %w", err)
	}

	tokens := auth.NewTaskTokens(f.taskTokenTTL, f.taskTokenMax, nil)
	server, err := newTemporalServer(serverParams{
		flags:        f,
		logger:       logger,
		tls:          c.tlsProvider(),
		authorizer:   auth.NewAuthorizer(tokens, newLogger(f.authLogLevel)),
		claimMapper:  auth.NewClaimMapper(auth.NewVerifier(keys, nil), c.processCA.Cert),
		interceptors: []grpc.UnaryServerInterceptor{tokens.Interceptor},
	})
	if err != nil {
		return err
	}
	if err := server.Start(); err != nil {
		return fmt.Errorf("starting Temporal: %w", err)
	}
	defer func() { _ = server.Stop() }()

	uiErr := make(chan error, 1)
	if f.uiPort > 0 {
		// The UI binds in the background; find a taken port now rather than after "ready".
		if err := portFree(f.uiPort); err != nil {
			return fmt.Errorf("--ui-port: %w", err)
		}
		ui := newUIServer(f, c)
		go func() { uiErr <- ui.Start() }() // Start blocks while serving
		defer ui.Stop()
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	addr := net.JoinHostPort(frontendDialHost(f.ip), strconv.Itoa(f.port))
	if err := waitServing(ctx, addr, c.dir.CA, 60*time.Second); err != nil {
		if ctx.Err() != nil {
			return nil // stopped by a signal while starting
		}
		return err
	}
	fmt.Fprintf(os.Stderr, "bp-temporal ready %s\n", addr)

	select {
	case <-ctx.Done():
		logger.Info("bp-temporal stopping")
		return nil
	case err := <-uiErr:
		return fmt.Errorf("web UI: %w", err)
	}
}

// newLogger logs JSON lines to stderr at the given level.
func newLogger(level string) log.Logger {
	return log.NewZapLogger(log.BuildZapLogger(log.Config{Level: level}))
}

// portFree tells whether a loopback port can be bound.
func portFree(port int) error {
	l, err := net.Listen("tcp", net.JoinHostPort(loopback, strconv.Itoa(port)))
	if err != nil {
		return err
	}
	return l.Close()
}

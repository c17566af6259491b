// bp-ferretdb: FerretDB v1.24 for the platform's MongoDB tests, built through FerretDB's embeddable package.
//
// Why a wrapper and not `go install .../cmd/ferretdb`: the module on the Go module proxy ships an empty
// build/version/version.txt, and cmd/ferretdb panics on it at start. The embeddable package skips that check (it only
// applies when FerretDB itself is the main module), disables telemetry, and needs no patched sources.
//
// It listens on loopback (port 0 by default: the kernel picks a free port, so parallel tests never race for one),
// prints one JSON line {"uri": "mongodb://127.0.0.1:<port>/"} on stdout once the listener accepts connections, and
// stops on SIGINT/SIGTERM.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/FerretDB/FerretDB/build/version"
	"github.com/FerretDB/FerretDB/ferretdb"
)

// The module's version.txt is empty; buildInfo then reports "unknown" as FerretDB's version.
const ferretdbVersion = "v1.24.2"

func main() {
	listen := flag.String("listen-addr", "127.0.0.1:0", "TCP address to listen on")
	handler := flag.String("handler", "postgresql", "backend: postgresql or sqlite")
	pgURL := flag.String("postgresql-url", "", "PostgreSQL connection string (postgresql handler)")
	sqliteURL := flag.String("sqlite-url", "", "SQLite URI of a directory, e.g. file:/tmp/x/ (sqlite handler)")
	logLevel := flag.String("log-level", "warn", "debug, info, warn or error")
	flag.Parse()

	version.Get().Version = ferretdbVersion

	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fail(err)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	f, err := ferretdb.New(&ferretdb.Config{
		Listener:      ferretdb.ListenerConfig{TCP: *listen},
		Logger:        logger,
		Handler:       *handler,
		PostgreSQLURL: *pgURL,
		SQLiteURL:     *sqliteURL,
	})
	if err != nil {
		fail(err)
	}

	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = f.Run(ctx)
	}()

	// MongoDBURI waits for the listener to be bound, so the line means "connect now".
	line, _ := json.Marshal(map[string]string{"uri": f.MongoDBURI()})
	fmt.Println(string(line))

	<-done
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "bp-ferretdb:", err)
	os.Exit(2)
}

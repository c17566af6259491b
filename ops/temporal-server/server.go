package main

import (
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/server/common/authorization"
	"go.temporal.io/server/common/cluster"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/membership/static"
	"go.temporal.io/server/common/metrics"
	sqliteplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	"go.temporal.io/server/common/primitives"
	"go.temporal.io/server/common/rpc/encryption"
	sqliteschema "go.temporal.io/server/schema/sqlite"
	"go.temporal.io/server/temporal"
	"google.golang.org/grpc"
)

// loopback is where every port but the public frontend's listens: the internal services, the internal
// frontend (used by the server's own system worker), metrics and the Web UI are never for sites.
const loopback = "127.0.0.1"

const clusterName = "active"

// serverParams are what the Temporal server is built from.
type serverParams struct {
	flags        *flags
	logger       log.Logger
	tls          encryption.TLSConfigProvider
	authorizer   authorization.Authorizer
	claimMapper  authorization.ClaimMapper
	interceptors []grpc.UnaryServerInterceptor
}

// newTemporalServer builds a single-process Temporal (frontend, internal frontend, history, matching, worker)
// on SQLite, like `temporal server start-dev`, but with TLS, our claim mapper and authorizer.
func newTemporalServer(p serverParams) (temporal.Server, error) {
	conf, err := buildConfig(p.flags)
	if err != nil {
		return nil, err
	}
	hosts := map[primitives.ServiceName]static.Hosts{}
	for _, name := range temporal.Services {
		port := conf.Services[name].RPC.GRPCPort
		hosts[primitives.ServiceName(name)] = static.SingleLocalHost(net.JoinHostPort(loopback, strconv.Itoa(port)))
	}
	return temporal.NewServer(
		temporal.WithConfig(conf),
		temporal.ForServices(temporal.Services),
		temporal.WithStaticHosts(hosts),
		temporal.WithLogger(p.logger),
		temporal.WithTLSConfigFactory(p.tls),
		temporal.WithAuthorizer(p.authorizer),
		temporal.WithClaimMapper(func(*config.Config) authorization.ClaimMapper { return p.claimMapper }),
		temporal.WithChainedFrontendGrpcInterceptors(p.interceptors...),
		temporal.WithDynamicConfigClient(dynamicConfig()),
	)
}

// dynamicConfig is the dev server's: search attributes visible as soon as they are added (the API adds its
// own at start and lists by them right away), persistence rates raised to match, a bigger history cache and
// visibility rate. Nexus is off: the platform does not use it, and it would want the HTTP port and callbacks.
func dynamicConfig() dynamicconfig.StaticClient {
	return dynamicconfig.StaticClient{
		dynamicconfig.EnableNexus.Key():                                  false,
		dynamicconfig.HistoryCacheHostLevelMaxSize.Key():                 8096,
		dynamicconfig.FrontendMaxNamespaceVisibilityRPSPerInstance.Key(): 100,
		"system.forceSearchAttributesCacheRefreshOnRead":                 true,
		"frontend.persistenceMaxQPS":                                     10000,
		"history.persistenceMaxQPS":                                      45000,
	}
}

func buildConfig(f *flags) (*config.Config, error) {
	var conf config.Config
	conf.Global.Membership.MaxJoinDuration = 30 * time.Second
	conf.Global.Membership.BroadcastAddress = loopback
	if f.metricsPort > 0 {
		conf.Global.Metrics = &metrics.Config{Prometheus: &metrics.PrometheusConfig{
			ListenAddress: net.JoinHostPort(loopback, strconv.Itoa(f.metricsPort)),
			HandlerPath:   "/metrics",
		}}
	}

	sqlConf, err := sqlConfig(f.dbFile, f.namespace)
	if err != nil {
		return nil, err
	}
	conf.Persistence.DefaultStore = "sqlite-default"
	conf.Persistence.VisibilityStore = "sqlite-default"
	conf.Persistence.NumHistoryShards = 1
	conf.Persistence.DataStores = map[string]config.DataStore{"sqlite-default": {SQL: sqlConf}}

	frontendAddr := net.JoinHostPort(f.ip, strconv.Itoa(f.port))
	conf.ClusterMetadata = &cluster.Config{
		FailoverVersionIncrement: 10,
		MasterClusterName:        clusterName,
		CurrentClusterName:       clusterName,
		ClusterInformation: map[string]cluster.ClusterInformation{clusterName: {
			Enabled:                true,
			InitialFailoverVersion: 1,
			RPCAddress:             frontendAddr,
			HTTPAddress:            net.JoinHostPort(f.ip, strconv.Itoa(f.httpPort)),
			ClusterID:              uuid.NewString(), // replaced by the stored one when the database has it
		}},
	}
	conf.DCRedirectionPolicy.Policy = "noop"

	conf.Services = map[string]config.Service{
		string(primitives.FrontendService): {RPC: config.RPC{GRPCPort: f.port, BindOnIP: f.ip, HTTPPort: f.httpPort}},
	}
	// The system worker (schedules, batch operations, ...) reaches the frontend through "internal-frontend",
	// which has mutual TLS with the in-memory process CA and gives its callers system rights; leaving
	// PublicClient empty is what selects it.
	for _, name := range []primitives.ServiceName{
		primitives.InternalFrontendService, primitives.HistoryService, primitives.MatchingService, primitives.WorkerService,
	} {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		conf.Services[string(name)] = config.Service{RPC: config.RPC{GRPCPort: port, BindOnIP: loopback}}
	}

	conf.Archival.History.State = "disabled"
	conf.Archival.Visibility.State = "disabled"
	conf.NamespaceDefaults.Archival.History.State = "disabled"
	conf.NamespaceDefaults.Archival.Visibility.State = "disabled"
	return &conf, nil
}

// sqlConfig is SQLite in a file (schema made on first use) or in memory, with the namespace created if
// missing, with the dev server's settings (24 h retention, archival off).
func sqlConfig(dbFile, namespace string) (*config.SQL, error) {
	conf := &config.SQL{PluginName: sqliteplugin.PluginName}
	if dbFile == "" {
		conf.ConnectAttributes = map[string]string{"mode": "memory", "cache": "shared"}
		conf.DatabaseName = strconv.Itoa(rand.IntN(9999999)) // a fresh in-memory database per process
	} else {
		conf.ConnectAttributes = map[string]string{"mode": "rwc"}
		conf.DatabaseName = dbFile
		if _, err := os.Stat(dbFile); errors.Is(err, fs.ErrNotExist) {
			if _, err := os.Stat(filepath.Dir(dbFile)); err != nil {
				return nil, fmt.Errorf("database folder: %w", err)
			}
			if err := sqliteschema.SetupSchema(conf); err != nil {
				return nil, fmt.Errorf("setting up the database schema: %w", err)
			}
		} else if err != nil {
			return nil, err
		}
	}
	ns, err := sqliteschema.NewNamespaceConfig(clusterName, namespace, false, nil)
	if err != nil {
		return nil, err
	}
	if err := sqliteschema.CreateNamespaces(conf, ns); err != nil {
		return nil, fmt.Errorf("creating namespace %q: %w", namespace, err)
	}
	return conf, nil
}

// freePort finds a free loopback port outside the kernel's ephemeral range, so an outgoing connection made between
// now and the bind cannot take it (a port the kernel hands out as free is just as soon some client's source port).
// Where the ephemeral range leaves no room below it, the kernel's choice is taken.
func freePort() (int, error) {
	low, high := 10000, ephemeralLow()
	for i := 0; high-low > 1000 && i < 100; i++ {
		port := low + rand.IntN(high-low)
		if l, err := net.Listen("tcp", net.JoinHostPort(loopback, strconv.Itoa(port))); err == nil {
			l.Close()
			return port, nil
		}
	}
	l, err := net.Listen("tcp", net.JoinHostPort(loopback, "0"))
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// ephemeralLow is the first port of the kernel's ephemeral range (Linux), 32768 when it cannot be read.
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	fields := strings.Fields(string(b))
	if len(fields) == 0 {
		return 32768
	}
	n, err := strconv.Atoi(fields[0])
	if err != nil {
		return 32768
	}
	return n
}

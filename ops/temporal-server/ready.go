package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// workflowServiceName is the health-check service the frontend marks SERVING once it can take calls.
const workflowServiceName = "temporal.api.workflowservice.v1.WorkflowService"

// waitServing polls the frontend's gRPC health check over TLS (as a client would: trusting only ca.pem,
// checking the certificate's name) until it answers SERVING, so "ready" means a client can connect now.
func waitServing(ctx context.Context, addr string, ca *x509.Certificate, timeout time.Duration) error {
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	creds := credentials.NewTLS(&tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool})
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		return err
	}
	defer conn.Close()
	client := healthpb.NewHealthClient(conn)

	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	delay := 20 * time.Millisecond
	for {
		callCtx, callCancel := context.WithTimeout(ctx, 2*time.Second)
		resp, err := client.Check(callCtx, &healthpb.HealthCheckRequest{Service: workflowServiceName})
		callCancel()
		if err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("frontend at %s not serving: %v (last: %v)", addr, ctx.Err(), err)
		case <-time.After(delay):
		}
		delay = min(delay*2, 250*time.Millisecond)
	}
}

package auth

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.temporal.io/api/serviceerror"
	wf "go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/server/common/authorization"
	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/metrics"
	"go.temporal.io/server/common/namespace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
)

func ctxWithClaims(c *authorization.Claims) context.Context {
	return context.WithValue(context.Background(), authorization.MappedClaims, c)
}

func reply(resp any, err error) grpc.UnaryHandler {
	return func(context.Context, any) (any, error) { return resp, err }
}

func TestInterceptorRecordsTokensPolledBySites(t *testing.T) {
	k := newTestKeys(t)
	tokens := NewTaskTokens(time.Hour, 10, nil)
	site := ctxWithClaims(k.claimsFor(t, siteClaims("site-a")))
	platform := ctxWithClaims(k.claimsFor(t, platformClaims()))
	poll := &wf.PollActivityTaskQueueRequest{Namespace: ns, TaskQueue: tq("site-a")}

	tokens.Interceptor(site, poll, nil, reply(&wf.PollActivityTaskQueueResponse{TaskToken: []byte("t1")}, nil))
	tokens.Interceptor(site, poll, nil, reply(&wf.PollActivityTaskQueueResponse{}, nil)) // poll timed out
	tokens.Interceptor(site, poll, nil, reply(nil, errors.New("unavailable")))
	tokens.Interceptor(platform, poll, nil, reply(&wf.PollActivityTaskQueueResponse{TaskToken: []byte("t2")}, nil))
	if !tokens.Owns([]byte("t1"), ns, "site-a") {
		t.Error("token polled by the site not recorded")
	}
	if tokens.Len() != 1 {
		t.Errorf("%d tokens recorded, want 1 (empty polls, failures and the platform's polls are not)", tokens.Len())
	}

	// A failed answer is retried by the SDK: the token must stay; a successful one uses it up.
	done := &wf.RespondActivityTaskCompletedRequest{Namespace: ns, TaskToken: []byte("t1")}
	tokens.Interceptor(site, done, nil, reply(nil, errors.New("deadline exceeded")))
	if !tokens.Owns([]byte("t1"), ns, "site-a") {
		t.Error("token dropped after a failed answer")
	}
	tokens.Interceptor(site, done, nil, reply(&wf.RespondActivityTaskCompletedResponse{}, nil))
	if tokens.Owns([]byte("t1"), ns, "site-a") {
		t.Error("token still usable after the task was answered")
	}
}

func TestInterceptorPassesResultsThrough(t *testing.T) {
	tokens := NewTaskTokens(time.Hour, 10, nil)
	want := &wf.GetSystemInfoResponse{}
	got, err := tokens.Interceptor(context.Background(), &wf.GetSystemInfoRequest{}, nil, reply(want, nil))
	if got != want || err != nil {
		t.Errorf("got %v %v", got, err)
	}
	boom := errors.New("boom")
	if _, err := tokens.Interceptor(context.Background(), &wf.GetSystemInfoRequest{}, nil, reply(nil, boom)); err != boom {
		t.Errorf("error not passed through: %v", err)
	}
}

type allNamespacesExist struct{}

func (allNamespacesExist) Exists(namespace.Name) error { return nil }

// TestServerInterceptorAnswersPermissionDenied runs our mapper and authorizer inside the server's own
// authorization interceptor, reading the token from gRPC metadata as the frontend does.
func TestServerInterceptorAnswersPermissionDenied(t *testing.T) {
	k := newTestKeys(t)
	tokens := NewTaskTokens(time.Hour, 10, nil)
	ic := authorization.NewInterceptor(NewClaimMapper(k.verifier(), nil), NewAuthorizer(tokens, nil),
		metrics.NoopMetricsHandler, log.NewNoopLogger(), allNamespacesExist{}, nil, "", "", func() bool { return false })
	call := func(header string, api string, req any) error {
		ctx := context.Background()
		if header != "" {
			ctx = metadata.NewIncomingContext(ctx, metadata.Pairs("authorization", header))
		}
		_, err := ic.Intercept(ctx, req, &grpc.UnaryServerInfo{FullMethod: api},
			func(ctx context.Context, req any) (any, error) {
				return tokens.Interceptor(ctx, req, nil, reply(&wf.PollActivityTaskQueueResponse{TaskToken: []byte("t")}, nil))
			})
		return err
	}
	site := "Bearer " + k.token(t, siteClaims("site-a"))
	own := &wf.PollActivityTaskQueueRequest{Namespace: ns, TaskQueue: tq("site-a")}
	if err := call(site, wfAPI("PollActivityTaskQueue"), own); err != nil {
		t.Fatalf("own poll: %v", err)
	}
	if err := call(site, wfAPI("RespondActivityTaskCompleted"),
		&wf.RespondActivityTaskCompletedRequest{Namespace: ns, TaskToken: []byte("t")}); err != nil {
		t.Errorf("answer to the polled task: %v", err)
	}
	for name, err := range map[string]error{
		"other queue": call(site, wfAPI("PollActivityTaskQueue"),
			&wf.PollActivityTaskQueueRequest{Namespace: ns, TaskQueue: tq("site-b")}),
		"list":       call(site, wfAPI("ListWorkflowExecutions"), &wf.ListWorkflowExecutionsRequest{Namespace: ns}),
		"no token":   call("", wfAPI("GetSystemInfo"), &wf.GetSystemInfoRequest{}),
		"bad token":  call("Bearer abc", wfAPI("GetSystemInfo"), &wf.GetSystemInfoRequest{}),
		"used token": call(site, wfAPI("RespondActivityTaskCompleted"), &wf.RespondActivityTaskCompletedRequest{Namespace: ns, TaskToken: []byte("t")}),
	} {
		if serviceerror.ToStatus(err).Code() != codes.PermissionDenied { // what the frontend sends on the wire
			t.Errorf("%s: got %v, want PermissionDenied", name, err)
		}
	}
}

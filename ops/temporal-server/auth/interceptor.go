package auth

import (
	"context"

	"go.temporal.io/api/workflowservice/v1"
	"google.golang.org/grpc"
)

// TaskTokenInterceptor keeps TaskTokens up to date. It is chained after the server's authorization
// interceptor (temporal.WithChainedFrontendGrpcInterceptors), so it only sees calls already allowed and can
// read the caller's Identity from the context. Only successful calls change the record: a failed
// RespondActivityTaskCompleted is retried by the SDK and must still be allowed.
func (t *TaskTokens) Interceptor(
	ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler,
) (any, error) {
	resp, err := handler(ctx, req)
	if err != nil {
		return resp, err
	}
	id := IdentityFromContext(ctx)
	if id == nil || id.Role != RoleSite {
		return resp, err // the platform and the UI are not limited to their own tokens
	}
	switch r := req.(type) {
	case *workflowservice.PollActivityTaskQueueRequest:
		// The authorizer has checked the polled queue is the site's own; an empty token is a poll that
		// timed out with no task.
		if p, ok := resp.(*workflowservice.PollActivityTaskQueueResponse); ok && len(p.GetTaskToken()) > 0 {
			t.Add(p.GetTaskToken(), id.Namespace, id.TaskQueue)
		}
	case *workflowservice.RecordActivityTaskHeartbeatRequest:
		t.Touch(r.GetTaskToken())
	case *workflowservice.RespondActivityTaskCompletedRequest:
		t.Remove(r.GetTaskToken())
	case *workflowservice.RespondActivityTaskFailedRequest:
		t.Remove(r.GetTaskToken())
	case *workflowservice.RespondActivityTaskCanceledRequest:
		t.Remove(r.GetTaskToken())
	}
	return resp, err
}

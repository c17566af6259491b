package auth

import (
	"context"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	taskqueuepb "go.temporal.io/api/taskqueue/v1"
	workerpb "go.temporal.io/api/worker/v1"
	wf "go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/server/common/authorization"
)

// target builds the CallTarget the server's interceptor passes: the namespace comes from the request.
func target(api string, req any) *authorization.CallTarget {
	ns := ""
	if r, ok := req.(interface{ GetNamespace() string }); ok {
		ns = r.GetNamespace()
	}
	return &authorization.CallTarget{APIName: api, Namespace: ns, Request: req}
}

func wfAPI(name string) string { return wfPrefix + name }

func tq(name string) *taskqueuepb.TaskQueue { return &taskqueuepb.TaskQueue{Name: name} }

func allowed(t *testing.T, a *Authorizer, c *authorization.Claims, ct *authorization.CallTarget) bool {
	t.Helper()
	r, err := a.Authorize(context.Background(), c, ct)
	if err != nil {
		t.Fatalf("%s: error %v", ct.APIName, err)
	}
	return r.Decision == authorization.DecisionAllow
}

const ns = "default"

func TestPlatformMayRunTheWholeNamespace(t *testing.T) {
	k := newTestKeys(t)
	a := NewAuthorizer(NewTaskTokens(time.Hour, 10, nil), nil)
	c := k.claimsFor(t, platformClaims())
	for _, ct := range []*authorization.CallTarget{
		target(wfAPI("GetSystemInfo"), &wf.GetSystemInfoRequest{}),
		target(wfAPI("GetClusterInfo"), &wf.GetClusterInfoRequest{}),
		target(wfAPI("ListNamespaces"), &wf.ListNamespacesRequest{}),
		target(wfAPI("DescribeNamespace"), &wf.DescribeNamespaceRequest{Namespace: ns}),
		target(wfAPI("StartWorkflowExecution"), &wf.StartWorkflowExecutionRequest{Namespace: ns}),
		target(wfAPI("DescribeWorkflowExecution"), &wf.DescribeWorkflowExecutionRequest{Namespace: ns}),
		target(wfAPI("ListWorkflowExecutions"), &wf.ListWorkflowExecutionsRequest{Namespace: ns}),
		target(wfAPI("TerminateWorkflowExecution"), &wf.TerminateWorkflowExecutionRequest{Namespace: ns}),
		target(wfAPI("CreateSchedule"), &wf.CreateScheduleRequest{Namespace: ns}),
		target(wfAPI("PatchSchedule"), &wf.PatchScheduleRequest{Namespace: ns}),
		target(wfAPI("DeleteSchedule"), &wf.DeleteScheduleRequest{Namespace: ns}),
		target(wfAPI("DescribeTaskQueue"), &wf.DescribeTaskQueueRequest{Namespace: ns}),
		target(wfAPI("PollWorkflowTaskQueue"), &wf.PollWorkflowTaskQueueRequest{Namespace: ns, TaskQueue: tq("central")}),
		target(wfAPI("PollActivityTaskQueue"), &wf.PollActivityTaskQueueRequest{Namespace: ns, TaskQueue: tq("site-zz")}),
		target(wfAPI("RespondActivityTaskCompleted"), &wf.RespondActivityTaskCompletedRequest{Namespace: ns, TaskToken: []byte("x")}),
		target(opPrefix+"ListSearchAttributes", &operatorservice.ListSearchAttributesRequest{Namespace: ns}),
		target(opPrefix+"AddSearchAttributes", &operatorservice.AddSearchAttributesRequest{Namespace: ns}),
		target("/grpc.health.v1.Health/Check", nil),
	} {
		if !allowed(t, a, c, ct) {
			t.Errorf("platform refused %s", ct.APIName)
		}
	}
}

func TestPlatformRefusedOutsideItsNamespaceAndAdministration(t *testing.T) {
	k := newTestKeys(t)
	a := NewAuthorizer(nil, nil)
	c := k.claimsFor(t, platformClaims())
	for _, ct := range []*authorization.CallTarget{
		target(wfAPI("ListWorkflowExecutions"), &wf.ListWorkflowExecutionsRequest{Namespace: "temporal-system"}),
		target(wfAPI("StartWorkflowExecution"), &wf.StartWorkflowExecutionRequest{Namespace: "other"}),
		target(wfAPI("DescribeNamespace"), &wf.DescribeNamespaceRequest{Id: "some-id"}),
		target(wfAPI("RegisterNamespace"), &wf.RegisterNamespaceRequest{Namespace: "new"}),
		target(wfAPI("UpdateNamespace"), &wf.UpdateNamespaceRequest{Namespace: ns}),
		target(wfAPI("DeprecateNamespace"), &wf.DeprecateNamespaceRequest{Namespace: ns}),
		target(wfAPI("NoSuchCall"), nil),
		target(opPrefix+"RemoveSearchAttributes", &operatorservice.RemoveSearchAttributesRequest{Namespace: ns}),
		target(opPrefix+"DeleteNamespace", &operatorservice.DeleteNamespaceRequest{Namespace: ns}),
		target(opPrefix+"CreateNexusEndpoint", &operatorservice.CreateNexusEndpointRequest{}),
		target(opPrefix+"AddSearchAttributes", &operatorservice.AddSearchAttributesRequest{Namespace: "other"}),
		target("/temporal.server.api.adminservice.v1.AdminService/DescribeCluster", nil),
	} {
		if allowed(t, a, c, ct) {
			t.Errorf("platform allowed %s in %q", ct.APIName, ct.Namespace)
		}
	}
}

func TestSiteMayOnlyPollAndAnswerItsOwnQueue(t *testing.T) {
	k := newTestKeys(t)
	tokens := NewTaskTokens(time.Hour, 10, nil)
	tokens.Add([]byte("mine"), ns, "site-a")
	tokens.Add([]byte("theirs"), ns, "site-b")
	a := NewAuthorizer(tokens, nil)
	c := k.claimsFor(t, siteClaims("site-a"))

	allow := []*authorization.CallTarget{
		target(wfAPI("GetSystemInfo"), &wf.GetSystemInfoRequest{}),
		target(wfAPI("DescribeNamespace"), &wf.DescribeNamespaceRequest{Namespace: ns}),
		target(wfAPI("PollActivityTaskQueue"), &wf.PollActivityTaskQueueRequest{Namespace: ns, TaskQueue: tq("site-a")}),
		target(wfAPI("PollActivityTaskQueue"), &wf.PollActivityTaskQueueRequest{Namespace: ns,
			TaskQueue: &taskqueuepb.TaskQueue{Name: "site-a", Kind: enumspb.TASK_QUEUE_KIND_NORMAL}}),
		target(wfAPI("RecordActivityTaskHeartbeat"), &wf.RecordActivityTaskHeartbeatRequest{Namespace: ns, TaskToken: []byte("mine")}),
		target(wfAPI("RespondActivityTaskCompleted"), &wf.RespondActivityTaskCompletedRequest{Namespace: ns, TaskToken: []byte("mine")}),
		target(wfAPI("RespondActivityTaskFailed"), &wf.RespondActivityTaskFailedRequest{Namespace: ns, TaskToken: []byte("mine")}),
		target(wfAPI("RespondActivityTaskCanceled"), &wf.RespondActivityTaskCanceledRequest{Namespace: ns, TaskToken: []byte("mine")}),
		target(wfAPI("ShutdownWorker"), &wf.ShutdownWorkerRequest{Namespace: ns}),
		target(wfAPI("ShutdownWorker"), &wf.ShutdownWorkerRequest{Namespace: ns,
			WorkerHeartbeat: &workerpb.WorkerHeartbeat{TaskQueue: "site-a"}}),
		target(wfAPI("RecordWorkerHeartbeat"), &wf.RecordWorkerHeartbeatRequest{Namespace: ns,
			WorkerHeartbeat: []*workerpb.WorkerHeartbeat{{TaskQueue: "site-a"}}}),
		target("/grpc.health.v1.Health/Check", nil),
	}
	for _, ct := range allow {
		if !allowed(t, a, c, ct) {
			t.Errorf("site refused %s %v", ct.APIName, ct.Request)
		}
	}

	deny := []*authorization.CallTarget{
		// other queues, namespaces, tokens
		target(wfAPI("PollActivityTaskQueue"), &wf.PollActivityTaskQueueRequest{Namespace: ns, TaskQueue: tq("site-b")}),
		target(wfAPI("PollActivityTaskQueue"), &wf.PollActivityTaskQueueRequest{Namespace: ns, TaskQueue: tq("")}),
		target(wfAPI("PollActivityTaskQueue"), &wf.PollActivityTaskQueueRequest{Namespace: ns,
			TaskQueue: &taskqueuepb.TaskQueue{Name: "site-a", Kind: enumspb.TASK_QUEUE_KIND_STICKY}}),
		target(wfAPI("PollActivityTaskQueue"), &wf.PollActivityTaskQueueRequest{Namespace: "other", TaskQueue: tq("site-a")}),
		target(wfAPI("RespondActivityTaskCompleted"), &wf.RespondActivityTaskCompletedRequest{Namespace: ns, TaskToken: []byte("theirs")}),
		target(wfAPI("RespondActivityTaskCompleted"), &wf.RespondActivityTaskCompletedRequest{Namespace: ns, TaskToken: []byte("forged")}),
		target(wfAPI("RespondActivityTaskCompleted"), &wf.RespondActivityTaskCompletedRequest{Namespace: ns}),
		target(wfAPI("RespondActivityTaskFailed"), &wf.RespondActivityTaskFailedRequest{Namespace: ns, TaskToken: []byte("theirs")}),
		target(wfAPI("RespondActivityTaskCanceled"), &wf.RespondActivityTaskCanceledRequest{Namespace: ns, TaskToken: []byte("theirs")}),
		target(wfAPI("RecordActivityTaskHeartbeat"), &wf.RecordActivityTaskHeartbeatRequest{Namespace: ns, TaskToken: []byte("theirs")}),
		target(wfAPI("RespondActivityTaskCompleted"), &wf.RespondActivityTaskCompletedRequest{Namespace: "other", TaskToken: []byte("mine")}),
		target(wfAPI("DescribeNamespace"), &wf.DescribeNamespaceRequest{Namespace: "temporal-system"}),
		target(wfAPI("DescribeNamespace"), &wf.DescribeNamespaceRequest{Id: "some-id"}),
		target(wfAPI("DescribeNamespace"), &wf.DescribeNamespaceRequest{Namespace: ns, Id: "some-id"}),
		target(wfAPI("ShutdownWorker"), &wf.ShutdownWorkerRequest{Namespace: ns, StickyTaskQueue: "central-sticky"}),
		target(wfAPI("ShutdownWorker"), &wf.ShutdownWorkerRequest{Namespace: ns,
			WorkerHeartbeat: &workerpb.WorkerHeartbeat{TaskQueue: "site-b"}}),
		target(wfAPI("RecordWorkerHeartbeat"), &wf.RecordWorkerHeartbeatRequest{Namespace: ns,
			WorkerHeartbeat: []*workerpb.WorkerHeartbeat{{TaskQueue: "site-a"}, {TaskQueue: "site-b"}}}),
		// everything else a worker or client could do
		target(wfAPI("PollWorkflowTaskQueue"), &wf.PollWorkflowTaskQueueRequest{Namespace: ns, TaskQueue: tq("site-a")}),
		target(wfAPI("PollNexusTaskQueue"), &wf.PollNexusTaskQueueRequest{Namespace: ns, TaskQueue: tq("site-a")}),
		target(wfAPI("RespondWorkflowTaskCompleted"), &wf.RespondWorkflowTaskCompletedRequest{Namespace: ns}),
		target(wfAPI("ListWorkflowExecutions"), &wf.ListWorkflowExecutionsRequest{Namespace: ns}),
		target(wfAPI("ListOpenWorkflowExecutions"), &wf.ListOpenWorkflowExecutionsRequest{Namespace: ns}),
		target(wfAPI("ScanWorkflowExecutions"), &wf.ScanWorkflowExecutionsRequest{Namespace: ns}),
		target(wfAPI("CountWorkflowExecutions"), &wf.CountWorkflowExecutionsRequest{Namespace: ns}),
		target(wfAPI("DescribeWorkflowExecution"), &wf.DescribeWorkflowExecutionRequest{Namespace: ns}),
		target(wfAPI("GetWorkflowExecutionHistory"), &wf.GetWorkflowExecutionHistoryRequest{Namespace: ns}),
		target(wfAPI("QueryWorkflow"), &wf.QueryWorkflowRequest{Namespace: ns}),
		target(wfAPI("CreateSchedule"), &wf.CreateScheduleRequest{Namespace: ns}),
		target(wfAPI("DescribeSchedule"), &wf.DescribeScheduleRequest{Namespace: ns}),
		target(wfAPI("UpdateSchedule"), &wf.UpdateScheduleRequest{Namespace: ns}),
		target(wfAPI("PatchSchedule"), &wf.PatchScheduleRequest{Namespace: ns}),
		target(wfAPI("DeleteSchedule"), &wf.DeleteScheduleRequest{Namespace: ns}),
		target(wfAPI("ListSchedules"), &wf.ListSchedulesRequest{Namespace: ns}),
		target(wfAPI("StartWorkflowExecution"), &wf.StartWorkflowExecutionRequest{Namespace: ns}),
		target(wfAPI("SignalWorkflowExecution"), &wf.SignalWorkflowExecutionRequest{Namespace: ns}),
		target(wfAPI("SignalWithStartWorkflowExecution"), &wf.SignalWithStartWorkflowExecutionRequest{Namespace: ns}),
		target(wfAPI("TerminateWorkflowExecution"), &wf.TerminateWorkflowExecutionRequest{Namespace: ns}),
		target(wfAPI("RequestCancelWorkflowExecution"), &wf.RequestCancelWorkflowExecutionRequest{Namespace: ns}),
		target(wfAPI("ResetWorkflowExecution"), &wf.ResetWorkflowExecutionRequest{Namespace: ns}),
		target(wfAPI("DeleteWorkflowExecution"), &wf.DeleteWorkflowExecutionRequest{Namespace: ns}),
		target(wfAPI("DescribeTaskQueue"), &wf.DescribeTaskQueueRequest{Namespace: ns, TaskQueue: tq("site-a")}),
		target(wfAPI("RespondActivityTaskCompletedById"), &wf.RespondActivityTaskCompletedByIdRequest{Namespace: ns}),
		target(wfAPI("RespondActivityTaskFailedById"), &wf.RespondActivityTaskFailedByIdRequest{Namespace: ns}),
		target(wfAPI("RespondActivityTaskCanceledById"), &wf.RespondActivityTaskCanceledByIdRequest{Namespace: ns}),
		target(wfAPI("RecordActivityTaskHeartbeatById"), &wf.RecordActivityTaskHeartbeatByIdRequest{Namespace: ns}),
		target(wfAPI("ListNamespaces"), &wf.ListNamespacesRequest{}),
		target(wfAPI("GetClusterInfo"), &wf.GetClusterInfoRequest{}),
		target(wfAPI("GetSearchAttributes"), &wf.GetSearchAttributesRequest{}),
		target(wfAPI("RegisterNamespace"), &wf.RegisterNamespaceRequest{Namespace: "new"}),
		target(wfAPI("UpdateNamespace"), &wf.UpdateNamespaceRequest{Namespace: ns}),
		target(wfAPI("StartBatchOperation"), &wf.StartBatchOperationRequest{Namespace: ns}),
		target(wfAPI("ListWorkers"), &wf.ListWorkersRequest{Namespace: ns}),
		target(opPrefix+"ListSearchAttributes", &operatorservice.ListSearchAttributesRequest{Namespace: ns}),
		target(opPrefix+"AddSearchAttributes", &operatorservice.AddSearchAttributesRequest{Namespace: ns}),
		target(opPrefix+"DeleteNamespace", &operatorservice.DeleteNamespaceRequest{Namespace: ns}),
		target("/temporal.server.api.adminservice.v1.AdminService/DescribeCluster", nil),
		target(nxsPrefix+"DispatchByNamespaceAndTaskQueue", nil),
	}
	for _, ct := range deny {
		if allowed(t, a, c, ct) {
			t.Errorf("site allowed %s %v", ct.APIName, ct.Request)
		}
	}
}

func TestBadOrMissingCredentialsRefused(t *testing.T) {
	k, other := newTestKeys(t), newTestKeys(t)
	a := NewAuthorizer(nil, nil)
	sysInfo := target(wfAPI("GetSystemInfo"), &wf.GetSystemInfoRequest{})
	health := target("/grpc.health.v1.Health/Check", nil)
	mapper := NewClaimMapper(k.verifier(), nil)
	expired := platformClaims()
	expired["exp"] = testNow.Add(-time.Second).Unix()
	wrongAud := platformClaims()
	wrongAud["aud"] = "other"
	for name, header := range map[string]string{
		"expired":         "Bearer " + k.token(t, expired),
		"forged":          "Bearer " + other.token(t, platformClaims()),
		"wrong aud":       "Bearer " + k.token(t, wrongAud),
		"not bearer":      k.token(t, platformClaims()),
		"empty bearer":    "Bearer ",
		"garbage":         "Bearer x.y.z",
		"basic auth":      "Basic dXNlcjpwYXNz",
		"only whitespace": "   ",
	} {
		c, err := mapper.GetClaims(&authorization.AuthInfo{AuthToken: header})
		if err != nil {
			t.Fatalf("%s: mapper error %v", name, err)
		}
		for _, ct := range []*authorization.CallTarget{sysInfo,
			target(wfAPI("ListWorkflowExecutions"), &wf.ListWorkflowExecutionsRequest{Namespace: ns})} {
			if allowed(t, a, c, ct) {
				t.Errorf("%s token allowed %s", name, ct.APIName)
			}
		}
		if !allowed(t, a, c, health) {
			t.Errorf("%s token: health check refused", name)
		}
	}
	// No header and no client certificate: the server passes nil claims.
	if allowed(t, a, nil, sysInfo) {
		t.Error("GetSystemInfo allowed without credentials")
	}
	if !allowed(t, a, nil, health) {
		t.Error("health check refused without credentials")
	}
	// Claims from a mapper we do not know (not ours, not admin) are refused.
	if allowed(t, a, &authorization.Claims{System: authorization.RoleWriter}, sysInfo) {
		t.Error("foreign claims allowed")
	}
}

func TestInternalFrontendSystemClaimsAllowed(t *testing.T) {
	// The internal frontend's no-op claim mapper gives its callers (the server's own system worker) this.
	c, _ := authorization.NewNoopClaimMapper().GetClaims(&authorization.AuthInfo{})
	ct := target(wfAPI("PollActivityTaskQueue"), &wf.PollActivityTaskQueueRequest{Namespace: "temporal-system"})
	if !allowed(t, NewAuthorizer(nil, nil), c, ct) {
		t.Error("system worker refused")
	}
}

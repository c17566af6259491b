package auth

import (
	"strings"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/server/common/api"
	"go.temporal.io/server/common/authorization"
)

const (
	wfPrefix  = api.WorkflowServicePrefix
	opPrefix  = api.OperatorServicePrefix
	nxsPrefix = api.NexusServicePrefix
)

// platformOperatorCalls are the operator-service calls the API makes (search attributes for its listings).
// Everything else there (namespace deletion, remote clusters, Nexus endpoints, removing search attributes)
// is for a human with the Web UI or the temporal CLI on the host, not for the API.
var platformOperatorCalls = map[string]bool{
	opPrefix + "ListSearchAttributes": true,
	opPrefix + "AddSearchAttributes":  true,
}

// decidePlatform: every worker/client call inside the token's namespace (start, describe, list, terminate,
// schedules, task queues, polling any queue...), cluster-level reads, and the search-attribute calls above.
// Namespace administration (register, update, deprecate, delete) and the admin service are refused.
func decidePlatform(id *Identity, t *authorization.CallTarget) (bool, string) {
	if platformOperatorCalls[t.APIName] {
		return sameNamespace(id, t)
	}
	if !strings.HasPrefix(t.APIName, wfPrefix) && !strings.HasPrefix(t.APIName, nxsPrefix) {
		return false, "not a workflow-service call"
	}
	md := api.GetMethodMetadata(t.APIName)
	switch {
	case md.Scope == api.ScopeCluster && md.Access == api.AccessReadOnly:
		return true, "" // GetSystemInfo, GetClusterInfo, ListNamespaces, GetSearchAttributes
	case md.Scope == api.ScopeNamespace && (md.Access == api.AccessReadOnly || md.Access == api.AccessWrite):
		return sameNamespace(id, t)
	}
	return false, "namespace or cluster administration" // also any call this server version does not know
}

// decideSite is the whole of what a site may do. A site token is meant to sit on a customer's machine, so it
// is trusted with nothing that reads or changes anyone's workflows: it may poll its own activity task queue
// and answer (heartbeat, complete, fail, cancel) the tasks it received from that queue, plus the few calls
// the TypeScript SDK worker makes when it starts and stops. Each request is checked field by field.
func decideSite(id *Identity, t *authorization.CallTarget, tokens *TaskTokens) (bool, string) {
	name := strings.TrimPrefix(t.APIName, wfPrefix)
	if name == t.APIName {
		return false, "operator, admin and Nexus calls are not allowed for sites"
	}
	if name == "GetSystemInfo" { // cluster-wide: server version and capabilities, which every SDK reads first
		return true, ""
	}
	if t.Namespace == "" {
		return false, name + " is not allowed for sites"
	}
	if ok, why := sameNamespace(id, t); !ok {
		return false, why
	}
	switch r := t.Request.(type) {
	case *workflowservice.DescribeNamespaceRequest: // the worker checks its namespace exists at start
		if r.GetId() != "" {
			return false, "describe by namespace id"
		}
		return true, ""
	case *workflowservice.PollActivityTaskQueueRequest:
		tq := r.GetTaskQueue()
		if k := tq.GetKind(); k != enumspb.TASK_QUEUE_KIND_NORMAL && k != enumspb.TASK_QUEUE_KIND_UNSPECIFIED {
			return false, "task queue kind " + k.String()
		}
		return ownQueue(id, tq.GetName())
	case *workflowservice.RecordActivityTaskHeartbeatRequest:
		return ownToken(id, tokens, r.GetTaskToken())
	case *workflowservice.RespondActivityTaskCompletedRequest:
		return ownToken(id, tokens, r.GetTaskToken())
	case *workflowservice.RespondActivityTaskFailedRequest:
		return ownToken(id, tokens, r.GetTaskToken())
	case *workflowservice.RespondActivityTaskCanceledRequest:
		return ownToken(id, tokens, r.GetTaskToken())
	case *workflowservice.ShutdownWorkerRequest:
		// Sent when the worker stops. A sticky queue belongs to a workflow worker, which a site never runs;
		// naming one would evict another worker's workflow cache.
		if r.GetStickyTaskQueue() != "" {
			return false, "sticky task queue " + r.GetStickyTaskQueue()
		}
		if hb := r.GetWorkerHeartbeat(); hb != nil {
			return ownQueue(id, hb.GetTaskQueue())
		}
		return true, ""
	case *workflowservice.RecordWorkerHeartbeatRequest:
		// Worker liveness reports: allowed when every one is about this site's queue.
		for _, hb := range r.GetWorkerHeartbeat() {
			if ok, why := ownQueue(id, hb.GetTaskQueue()); !ok {
				return false, why
			}
		}
		return true, ""
	}
	return false, name + " is not allowed for sites"
}

func sameNamespace(id *Identity, t *authorization.CallTarget) (bool, string) {
	if t.Namespace == "" || t.Namespace != id.Namespace {
		return false, "namespace " + quoteOrNone(t.Namespace) + " is not the token's"
	}
	return true, ""
}

func ownQueue(id *Identity, name string) (bool, string) {
	if name != id.TaskQueue {
		return false, "task queue " + quoteOrNone(name) + " is not the token's"
	}
	return true, ""
}

func ownToken(id *Identity, tokens *TaskTokens, token []byte) (bool, string) {
	if tokens == nil || !tokens.Owns(token, id.Namespace, id.TaskQueue) {
		return false, "task token was not handed to this site's task queue (or has expired)"
	}
	return true, ""
}

func quoteOrNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return `"` + s + `"`
}

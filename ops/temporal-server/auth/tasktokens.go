package auth

import (
	"container/list"
	"crypto/sha256"
	"sync"
	"time"
)

// TaskTokens remembers which site task queue each activity task token was handed to, so that a site can
// heartbeat and answer only the tasks it polled itself: a token is an opaque capability, and without this
// check any site holding (or guessing the layout of) another site's token could complete that task with a
// forged result.
//
// Only a SHA-256 of each token is kept. The record is bounded in time (an entry lives ttl after the poll or the
// last heartbeat) and in size (the oldest entry goes when max is reached). A site cannot flood it: it only
// receives tokens for tasks the platform scheduled on its queue.
type TaskTokens struct {
	mu      sync.Mutex
	ttl     time.Duration
	max     int
	now     func() time.Time
	byHash  map[[32]byte]*list.Element
	byOrder *list.List // front: soonest to expire (ttl is the same for all, so insertion order is expiry order)
}

type tokenEntry struct {
	hash      [32]byte
	namespace string
	taskQueue string
	expires   time.Time
}

// NewTaskTokens makes a record keeping at most max tokens for ttl each.
func NewTaskTokens(ttl time.Duration, max int, now func() time.Time) *TaskTokens {
	if now == nil {
		now = time.Now
	}
	if max < 1 {
		max = 1
	}
	return &TaskTokens{ttl: ttl, max: max, now: now, byHash: map[[32]byte]*list.Element{}, byOrder: list.New()}
}

// Add records that token was handed to a poller of taskQueue in namespace.
func (t *TaskTokens) Add(token []byte, namespace, taskQueue string) {
	h := sha256.Sum256(token)
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	t.expireLocked(now)
	if el, ok := t.byHash[h]; ok {
		t.byOrder.Remove(el)
		delete(t.byHash, h)
	}
	for t.byOrder.Len() >= t.max {
		t.removeLocked(t.byOrder.Front())
	}
	e := &tokenEntry{hash: h, namespace: namespace, taskQueue: taskQueue, expires: now.Add(t.ttl)}
	t.byHash[h] = t.byOrder.PushBack(e)
}

// Owns tells whether token was handed to taskQueue in namespace and has not expired.
func (t *TaskTokens) Owns(token []byte, namespace, taskQueue string) bool {
	if len(token) == 0 {
		return false
	}
	h := sha256.Sum256(token)
	t.mu.Lock()
	defer t.mu.Unlock()
	el, ok := t.byHash[h]
	if !ok {
		return false
	}
	e := el.Value.(*tokenEntry)
	if !t.now().Before(e.expires) {
		t.removeLocked(el)
		return false
	}
	return e.namespace == namespace && e.taskQueue == taskQueue
}

// Touch extends a token's life after a successful heartbeat, so a long activity that keeps heartbeating can
// still report its result after ttl.
func (t *TaskTokens) Touch(token []byte) {
	h := sha256.Sum256(token)
	t.mu.Lock()
	defer t.mu.Unlock()
	if el, ok := t.byHash[h]; ok {
		el.Value.(*tokenEntry).expires = t.now().Add(t.ttl)
		t.byOrder.MoveToBack(el)
	}
}

// Remove forgets a token once its task has been answered: a token answers one task once.
func (t *TaskTokens) Remove(token []byte) {
	h := sha256.Sum256(token)
	t.mu.Lock()
	defer t.mu.Unlock()
	if el, ok := t.byHash[h]; ok {
		t.removeLocked(el)
	}
}

// Len is the number of tokens recorded (expired ones may still be counted until the next Add).
func (t *TaskTokens) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.byOrder.Len()
}

func (t *TaskTokens) expireLocked(now time.Time) {
	for el := t.byOrder.Front(); el != nil && !now.Before(el.Value.(*tokenEntry).expires); el = t.byOrder.Front() {
		t.removeLocked(el)
	}
}

func (t *TaskTokens) removeLocked(el *list.Element) {
	delete(t.byHash, el.Value.(*tokenEntry).hash)
	t.byOrder.Remove(el)
}

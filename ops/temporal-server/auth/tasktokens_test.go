package auth

import (
	"fmt"
	"testing"
	"time"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func TestTaskTokensOwnership(t *testing.T) {
	clock := &fakeClock{testNow}
	tt := NewTaskTokens(time.Hour, 10, clock.now)
	tt.Add([]byte("tok-a"), "default", "site-a")
	if !tt.Owns([]byte("tok-a"), "default", "site-a") {
		t.Error("own token refused")
	}
	if tt.Owns([]byte("tok-a"), "default", "site-b") {
		t.Error("another site may answer site-a's task")
	}
	if tt.Owns([]byte("tok-a"), "other", "site-a") {
		t.Error("token accepted in another namespace")
	}
	if tt.Owns([]byte("tok-b"), "default", "site-a") || tt.Owns(nil, "default", "site-a") {
		t.Error("unknown or empty token accepted")
	}
	tt.Remove([]byte("tok-a"))
	if tt.Owns([]byte("tok-a"), "default", "site-a") {
		t.Error("answered token still accepted")
	}
}

func TestTaskTokensExpireAndHeartbeatsExtend(t *testing.T) {
	clock := &fakeClock{testNow}
	tt := NewTaskTokens(time.Hour, 10, clock.now)
	tt.Add([]byte("idle"), "default", "site-a")
	tt.Add([]byte("busy"), "default", "site-a")
	clock.t = clock.t.Add(50 * time.Minute)
	tt.Touch([]byte("busy")) // a heartbeat
	clock.t = clock.t.Add(20 * time.Minute)
	if tt.Owns([]byte("idle"), "default", "site-a") {
		t.Error("token accepted after its ttl")
	}
	if !tt.Owns([]byte("busy"), "default", "site-a") {
		t.Error("a heartbeat did not extend the token's life")
	}
	clock.t = clock.t.Add(time.Hour)
	tt.Add([]byte("new"), "default", "site-a") // expired entries go when something is added
	if tt.Len() != 1 {
		t.Errorf("%d entries kept, want 1", tt.Len())
	}
}

func TestTaskTokensBoundedInSize(t *testing.T) {
	tt := NewTaskTokens(time.Hour, 100, (&fakeClock{testNow}).now)
	for i := range 250 {
		tt.Add([]byte(fmt.Sprint("tok-", i)), "default", "site-a")
	}
	if tt.Len() != 100 {
		t.Fatalf("%d entries, want 100", tt.Len())
	}
	if tt.Owns([]byte("tok-149"), "default", "site-a") || !tt.Owns([]byte("tok-150"), "default", "site-a") {
		t.Error("not the oldest entries were dropped")
	}
	tt.Add([]byte("tok-249"), "default", "site-a") // the same token again is one entry
	if tt.Len() != 100 {
		t.Errorf("%d entries after re-adding, want 100", tt.Len())
	}
}

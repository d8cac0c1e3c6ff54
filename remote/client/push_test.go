package client

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/backupfs/backupfs/remote/wire"
)

// A pusher that drops the session before it acknowledges PUSH_RESULT: the
// target learns the session was lost (ErrSessionLost), not a bare read
// error; one that does not answer in time is the context's deadline.
func TestPushResultSessionLost(t *testing.T) {
	for _, drop := range []bool{true, false} {
		ours, theirs := net.Pipe()
		t.Cleanup(func() { ours.Close(); theirs.Close() })
		got := make(chan wire.Type, 1)
		go func() { // the pusher: HELLO, then read PUSH_RESULT and drop or stall
			_, err := wire.ReadFrame(ours)
			if err != nil {
				return
			}
			sh := wire.ServerHello{Version: wire.Version, Name: "pusher", Features: wire.FeatureSync}
			if wire.WriteFrame(ours, wire.Frame{Type: wire.THello, Payload: sh.Append(nil)}) != nil {
				return
			}
			f, _ := wire.ReadFrame(ours)
			got <- f.Type
			if drop {
				ours.Close()
				return
			}
			for err == nil { // stalled: reads on, answers nothing
				_, err = wire.ReadFrame(ours)
			}
		}()
		c, err := Over(context.Background(), theirs, ClientConfig{Addr: "pusher", Timeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		err = c.PushResult(context.Background(), wire.PushResult{Snapshots: 1})
		if ty := <-got; ty != wire.TPushResult {
			t.Fatalf("the pusher read %v, want PUSH_RESULT", ty)
		}
		switch {
		case drop && !errors.Is(err, ErrSessionLost):
			t.Errorf("PushResult on a dropped session: %v, want ErrSessionLost", err)
		case !drop && (!errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrSessionLost)):
			t.Errorf("PushResult unanswered: %v, want the deadline", err)
		}
		c.Close()
	}
}

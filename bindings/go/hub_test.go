package suprsend

// The local hub (tools/hub) for the tests: started once by TestMain on a free loopback port,
// reset by each test that counts what it received.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

const (
	testKey    = "go_test_key"
	testSecret = "go_test_secret"
)

var hubURL string // "http://127.0.0.1:PORT/"

func TestMain(m *testing.M) {
	os.Exit(runWithHub(m))
}

func runWithHub(m *testing.M) int {
	hub := os.Getenv("SUPRSEND_HUB")
	if hub == "" {
		hub = filepath.Join("..", "..", "tools", "hub", "suprsend-hub")
	}
	dir, err := os.MkdirTemp("", "suprsend-go-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer os.RemoveAll(dir)
	portFile := filepath.Join(dir, "port")
	cmd := exec.Command("python3", hub, "--host", "127.0.0.1", "--port", "0", "--port-file", portFile,
		"--workspace", testKey+":"+testSecret, "--quiet")
	logFile, _ := os.Create(filepath.Join(dir, "hub.log"))
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// A test binary that dies (a panic, a timeout) takes the hub with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "starting the local hub:", err)
		return 2
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}()
	for i := 0; i < 400; i++ {
		if b, err := os.ReadFile(portFile); err == nil && len(bytes.TrimSpace(b)) > 0 {
			hubURL = "http://127.0.0.1:" + strings.TrimSpace(string(b)) + "/"
			break
		}
		time.Sleep(25 * time.Millisecond)
	}
	if hubURL == "" {
		b, _ := os.ReadFile(filepath.Join(dir, "hub.log"))
		fmt.Fprintf(os.Stderr, "the local hub did not start; its log:\n%s\n", b)
		return 2
	}
	return m.Run()
}

func hubCall(t testing.TB, method, path string, body any) []byte {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, strings.TrimSuffix(hubURL, "/")+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("hub %s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		t.Fatalf("hub %s %s: %d %s", method, path, resp.StatusCode, out)
	}
	return out
}

// hubReset forgets everything the hub received (after ending delays of earlier tests).
func hubReset(t testing.TB) {
	t.Helper()
	hubCall(t, "POST", "/_hub/release", map[string]any{"drop": true})
	for i := 0; i < 200; i++ {
		var in struct{ Active int }
		_ = json.Unmarshal(hubCall(t, "GET", "/_hub/inflight", nil), &in)
		if in.Active == 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	hubCall(t, "POST", "/_hub/reset", nil)
}

func hubFaults(t testing.TB, faults any) { hubCall(t, "POST", "/_hub/faults", faults) }

type hubStats struct {
	Requests, Accepted, Duplicates, Rejected, Connections int
}

func hubGetStats(t testing.TB) hubStats {
	var s hubStats
	if err := json.Unmarshal(hubCall(t, "GET", "/_hub/stats", nil), &s); err != nil {
		t.Fatal(err)
	}
	return s
}

func hubEvents(t testing.TB) []map[string]any {
	var evs []map[string]any
	if err := json.Unmarshal(hubCall(t, "GET", "/_hub/events", nil), &evs); err != nil {
		t.Fatal(err)
	}
	return evs
}

// newTestClient is a client of the local hub, closed when the test ends.
func newTestClient(t testing.TB, opts ...ClientOption) *Client {
	t.Helper()
	c, err := NewClient(testKey, testSecret, append([]ClientOption{WithBaseUrl(hubURL)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = c.Close(ctx)
	})
	return c
}

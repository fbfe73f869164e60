// Package suprsend sends and tracks SuprSend events through libsuprsend, the C library, with
// suprsend-go's event API (NewClient, Event, AddAttachment, TrackEvent, BulkEvents) and the
// library's background delivery (Enqueue, Flush, Close).
//
// A Client is safe for concurrent use by any number of goroutines. Calls that wait on the
// network with a context (TrackEventWithContext, a bulk's Trigger) are the library's
// asynchronous calls: a waiting goroutine holds no thread, and the context's deadline or
// cancellation ends the wait. TrackEvent uses the blocking C call while few of the client's
// calls do (less CPU and latency), and the asynchronous call past that. No Go code runs on the
// library's threads: completions and deliveries are queued in C and taken by goroutines of the
// client (callbacks.go).
package suprsend

import (
	"context"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"time"
)

// ClientOption configures a Client, as in suprsend-go.
type ClientOption func(c *Client) error

type intOption struct {
	id    int
	name  string
	value int64
}

const (
	optMaxRetries = iota
	optFlushIntervalMs
	optCallTimeoutMs
	optMaxConnections
	optQueueCapacity
)

type clientConfig struct {
	baseUrl        string
	debug          bool
	timeoutSeconds int
	proxyUrl       string
	httpClient     bool
	outboxPath     string
	delivery       func(Delivery)
	intOptions     []intOption
}

// WithBaseUrl sets the hub's URL (default https://hub.suprsend.com/).
func WithBaseUrl(baseUrl string) ClientOption {
	return func(c *Client) error {
		c.cfg.baseUrl = strings.TrimSpace(baseUrl)
		return nil
	}
}

// WithDebug logs each request and response line (Authorization redacted) with the standard
// log package.
func WithDebug(debug bool) ClientOption {
	return func(c *Client) error {
		c.cfg.debug = debug
		return nil
	}
}

// WithTimeout sets the time allowed for one HTTP attempt, in seconds (default 30). The
// library retries what may succeed later within a whole call's limit (120 s); a context
// passed to a call bounds the wait too.
func WithTimeout(timeoutInSeconds int) ClientOption {
	return func(c *Client) error {
		c.cfg.timeoutSeconds = timeoutInSeconds
		return nil
	}
}

// WithProxyUrl sends through a proxy: http, https, socks4, socks4a, socks5 or socks5h.
func WithProxyUrl(proxyUrl string) ClientOption {
	return func(c *Client) error {
		c.cfg.proxyUrl = strings.TrimSpace(proxyUrl)
		return nil
	}
}

// WithHTTPClient exists so that suprsend-go code compiles: libsuprsend does its own HTTP
// (libcurl), so NewClient returns an *Error when it is given. Use WithTimeout and
// WithProxyUrl instead.
func WithHTTPClient(client *http.Client) ClientOption {
	return func(c *Client) error {
		c.cfg.httpClient = true
		return nil
	}
}

// WithOutbox keeps the background queue (Enqueue) in a SQLite file, so that what Enqueue
// accepted survives a crash and a restart. Default: a queue in memory.
func WithOutbox(path string) ClientOption {
	return func(c *Client) error {
		c.cfg.outboxPath = path
		return nil
	}
}

// WithDeliveryCallback receives the fate of each event Enqueue accepted, once, on a goroutine
// of the client that calls it for one event after another, in the order the library reported
// them. The library's worker does not wait for it; Flush and Close return once it has returned
// for every fate reported before they ended. It must not call Flush or Close (they would wait
// for it).
func WithDeliveryCallback(fn func(Delivery)) ClientOption {
	return func(c *Client) error {
		c.cfg.delivery = fn
		return nil
	}
}

// WithMaxRetries sets how many times a failed attempt that may succeed later is retried
// (default 3, at most 20).
func WithMaxRetries(n int) ClientOption {
	return func(c *Client) error {
		c.cfg.intOptions = append(c.cfg.intOptions, intOption{optMaxRetries, "WithMaxRetries", int64(n)})
		return nil
	}
}

// WithFlushInterval sets the longest a queued event waits for its batch to fill (default 1 s).
func WithFlushInterval(d time.Duration) ClientOption {
	return func(c *Client) error {
		c.cfg.intOptions = append(c.cfg.intOptions, intOption{optFlushIntervalMs, "WithFlushInterval", d.Milliseconds()})
		return nil
	}
}

// WithCallTimeout bounds one whole TrackEvent or bulk Trigger, retries included (default 120 s).
func WithCallTimeout(d time.Duration) ClientOption {
	return func(c *Client) error {
		c.cfg.intOptions = append(c.cfg.intOptions, intOption{optCallTimeoutMs, "WithCallTimeout", d.Milliseconds()})
		return nil
	}
}

// WithMaxConnections bounds the connections to the hub (default 32).
func WithMaxConnections(n int) ClientOption {
	return func(c *Client) error {
		c.cfg.intOptions = append(c.cfg.intOptions, intOption{optMaxConnections, "WithMaxConnections", int64(n)})
		return nil
	}
}

// WithQueueCapacity bounds the memory queue of Enqueue, in events (default 100000).
func WithQueueCapacity(n int) ClientOption {
	return func(c *Client) error {
		c.cfg.intOptions = append(c.cfg.intOptions, intOption{optQueueCapacity, "WithQueueCapacity", int64(n)})
		return nil
	}
}

// Client sends events to one workspace. It is safe for concurrent use.
type Client struct {
	ApiKey    string
	ApiSecret string

	BulkEvents *BulkEventsService

	cfg      clientConfig
	h        *clientHandle
	blocking chan struct{} // slots for blocking TrackEvent calls
}

// The most TrackEvent calls of one client that block a thread at once.
const blockingTracks = 4

// Response is the answer to TrackEvent: the hub's status and the event's message_id.
type Response struct {
	Success    bool   `json:"success"`
	StatusCode int    `json:"status_code"`
	Message    string `json:"message"`
}

func (r *Response) String() string {
	return fmt.Sprintf("Response{Success: %v, StatusCode: %v, Message: %v}", r.Success, r.StatusCode, r.Message)
}

// Delivery is the fate of one event Enqueue accepted, passed to the delivery callback.
// Err is nil when the hub accepted it; otherwise an *Error whose Err is a Status:
// StatusHTTP (refused by the hub, never retried), StatusTimeout (not delivered in time),
// StatusClosed (left in a memory queue at Close), StatusNetwork (no idempotency key, and a
// request that carried it failed after the hub may have processed it).
type Delivery struct {
	InsertId       string
	IdempotencyKey string
	EventName      string
	DistinctId     string
	StatusCode     int
	Attempts       int
	Err            error
}

// Stats are the counters of the client's background delivery.
type Stats struct {
	Queued      int64 // waiting: in the queue, or for a retry
	InFlight    int64 // in a request now
	Delivered   int64 // accepted by the hub
	Refused     int64 // refused by the hub, never retried
	Dropped     int64 // expired, left at Close of a memory queue, or not sent again (no key)
	Retries     int64 // requests sent again
	OutboxBytes int64 // size of the outbox file; 0 for a memory queue
}

// NewClient makes a client for the workspace apiKey, signing with apiSecret.
func NewClient(apiKey, apiSecret string, opts ...ClientOption) (*Client, error) {
	c := &Client{ApiKey: apiKey, ApiSecret: apiSecret}
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(c); err != nil {
			return nil, err
		}
	}
	if apiKey == "" {
		return nil, ErrMissingAPIKey
	}
	if apiSecret == "" {
		return nil, ErrMissingAPISecret
	}
	if c.cfg.httpClient {
		return nil, &Error{Code: 400, Message: "suprsend: WithHTTPClient is not supported: libsuprsend does its own HTTP " +
			"(libcurl); use WithTimeout and WithProxyUrl instead", Err: StatusArgument}
	}
	h, err := newClientHandle(apiKey, apiSecret, &c.cfg)
	if err != nil {
		return nil, err
	}
	c.h = h
	// The C client lives as long as the Go one: freed (after closing it with the library's
	// shutdown timeout, when Close was not called) once the Client is unreachable.
	runtime.SetFinalizer(h, (*clientHandle).free)
	c.BulkEvents = &BulkEventsService{client: c}
	c.blocking = make(chan struct{}, blockingTracks)
	return c, nil
}

// TrackEvent sends one event and waits for the hub's answer. An event that breaks a rule,
// a refusal by the hub and a request that got no answer return an *Error.
func (c *Client) TrackEvent(event *Event) (*Response, error) {
	return c.TrackEventWithContext(context.Background(), event)
}

// TrackEventWithContext is TrackEvent, waiting no longer than ctx allows. When ctx ends first,
// it returns an *Error wrapping ctx.Err(); the request may still reach the hub (the library
// finishes it, within its own limits, and drops the answer).
func (c *Client) TrackEventWithContext(ctx context.Context, event *Event) (*Response, error) {
	if event == nil {
		return nil, &Error{Code: 400, Message: "suprsend: TrackEvent: nil event", Err: StatusArgument}
	}
	if ctx.Err() != nil {
		return nil, contextError("TrackEvent", ctx)
	}
	if ctx.Done() == nil && len(event.attachments) == 0 {
		// Nothing can end the wait: a blocking call on this goroutine's thread costs the least
		// (the asynchronous call adds a hand-over to the library's thread and back), as long
		// as few run at once; past that, the asynchronous call, which holds no thread, so that
		// any number of goroutines never means as many threads.
		select {
		case c.blocking <- struct{}{}:
			t := &trackCall{}
			err := c.h.trackBlocking(event, t)
			<-c.blocking
			if err != nil {
				return nil, err
			}
			return t.result()
		default:
		}
	}
	t := &trackCall{pending: newPending()}
	if err := c.h.startTrack(event, t); err != nil {
		return nil, err
	}
	select {
	case <-t.done:
	case <-ctx.Done():
		if !t.abandon() {
			return nil, contextError("TrackEvent", ctx)
		}
		// It completed meanwhile: the answer is ours after all.
		<-t.done
	}
	runtime.KeepAlive(c) // the C client must outlive the call
	return t.result()
}

// Enqueue checks the event and queues it for background delivery; it returns at once,
// without waiting on the network. Each event's fate goes to the delivery callback
// (WithDeliveryCallback). After Close it returns an *Error (StatusClosed).
func (c *Client) Enqueue(event *Event) error {
	if event == nil {
		return &Error{Code: 400, Message: "suprsend: Enqueue: nil event", Err: StatusArgument}
	}
	return c.h.enqueue(event)
}

// flushSlice is how often a wait without a deadline of its own looks at its context.
const flushSlice = 100 * time.Millisecond

// Flush sends what is queued now and waits until every event enqueued before the call has its
// fate, or ctx ends (an *Error wrapping ctx.Err(); delivery goes on).
func (c *Client) Flush(ctx context.Context) error {
	if ctx.Done() == nil {
		return c.h.flush(-1, nil)
	}
	for {
		if ctx.Err() != nil {
			return contextError("Flush", ctx)
		}
		wait := flushSlice
		if deadline, ok := ctx.Deadline(); ok {
			left := time.Until(deadline)
			if left <= 0 {
				return contextErrorOf("Flush", context.DeadlineExceeded)
			}
			if left < wait {
				wait = left
			}
		}
		err := c.h.flush(wait.Milliseconds(), ctx.Done())
		if err == nil {
			return nil
		}
		if e, ok := err.(*Error); !ok || e.Err != StatusTimeout {
			return err
		}
	}
}

// Close stops accepting events, delivers what it can until ctx ends and stops the worker.
// Events still in a memory queue then are reported to the delivery callback as not
// delivered (StatusClosed); an outbox keeps them for the next client. It returns nil when
// no event enqueued before it was left. After Close, Enqueue, TrackEvent, Flush and bulk
// triggers return an *Error (StatusClosed); Stats still answers.
func (c *Client) Close(ctx context.Context) error {
	var err error
	switch deadline, ok := ctx.Deadline(); {
	case ok:
		left := time.Until(deadline).Milliseconds()
		if left < 0 {
			left = 0
		}
		err = c.h.close(left)
	case ctx.Done() == nil:
		err = c.h.close(-1)
	default:
		// Cancellable without a deadline: flush until done or cancelled, then close.
		_ = c.Flush(ctx)
		if ctx.Err() != nil {
			err = c.h.close(0)
		} else {
			err = c.h.close(-1)
		}
	}
	if e, ok := err.(*Error); ok && e.Err == StatusTimeout {
		// The library's deadline was the context's: say so, with the library's words.
		if ctxErr := ctx.Err(); ctxErr != nil {
			e.Err = ctxErr
		} else if _, hasDeadline := ctx.Deadline(); hasDeadline {
			e.Err = context.DeadlineExceeded
		}
	}
	return err
}

// Stats returns the counters of background delivery.
func (c *Client) Stats() Stats { return c.h.stats() }

// Version is the version of the libsuprsend loaded at run time.
func Version() string { return libraryVersion() }

package suprsend

import (
	"encoding/base64"
	"log"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"
)

// Event is one event of a user, as in suprsend-go. Nothing is checked when it is built: the
// rules (a distinct id and an event name, reserved prefixes, sizes, ...) are checked by the
// library when it is sent, enqueued or its bulk triggered.
type Event struct {
	DistinctId     string
	EventName      string
	Properties     map[string]any
	IdempotencyKey string
	TenantId       string
	BrandId        string

	// Added by AddAttachment; local files are read when they are added.
	attachments []attachment
}

// AttachmentOption changes how AddAttachment adds a file, as in suprsend-go.
type AttachmentOption struct {
	// The name the attachment has in the email; default: the file's base name (for a URL,
	// none: the hub names the download).
	FileName string
	// A local file that cannot be read is skipped (with a logged warning) instead of being an
	// error; for a URL, the hub goes on without an attachment it cannot download.
	IgnoreIfError bool
}

type attachment struct {
	url           string // an http:// or https:// URL for the hub to download, or
	data          []byte // the bytes of a local file, sent inline (base64)
	name          string
	ignoreIfError bool
}

// The most one attachment may take, base64 included: what any event can carry.
const maxAttachmentBase64 = 819200

// AddAttachment adds an attachment (for email): an http:// or https:// URL, which the hub
// downloads, or a local file ("~/" is expanded), which is read now and sent inline. Its
// content type comes from the file name's extension, else from its first bytes. It takes at
// most one option (nil is allowed): AddAttachment(path) and
// AddAttachment(path, &AttachmentOption{FileName: "invoice.pdf"}) both compile.
//
// A local file that cannot be read, or is empty, is an *Error (wrapping the file system's
// error) unless IgnoreIfError is set.
func (e *Event) AddAttachment(filePath string, opts ...*AttachmentOption) error {
	var opt AttachmentOption
	for _, o := range opts {
		if o != nil {
			opt = *o
			break
		}
	}
	name := strings.TrimSpace(opt.FileName)
	skip := func(err *Error) error {
		if opt.IgnoreIfError {
			log.Printf("WARNING: suprsend: attachment skipped: %v", err)
			return nil
		}
		return err
	}
	if strings.HasPrefix(filePath, "http://") || strings.HasPrefix(filePath, "https://") {
		u, err := url.Parse(filePath)
		if err != nil || u.Host == "" {
			return skip(&Error{Code: 400, Message: "attachment: not a URL with a host: " + filePath, Err: StatusAttachment})
		}
		e.attachments = append(e.attachments, attachment{url: filePath, name: name, ignoreIfError: opt.IgnoreIfError})
		return nil
	}
	path := filePath
	if path == "~" || strings.HasPrefix(path, "~/") {
		home, err := os.UserHomeDir()
		if err != nil {
			return skip(&Error{Code: 400, Message: "attachment: " + err.Error(), Err: err})
		}
		path = filepath.Join(home, path[1:])
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return skip(&Error{Code: 400, Message: "attachment: " + err.Error(), Err: err})
	}
	if len(data) == 0 {
		return skip(&Error{Code: 400, Message: "attachment: " + path + ": the file is empty", Err: StatusAttachment})
	}
	if base64.StdEncoding.EncodedLen(len(data)) > maxAttachmentBase64 {
		return &Error{Code: 413, Message: "attachment: " + path + ": too large for an event (at most 800 KiB base64)", Err: StatusTooLarge}
	}
	if name == "" {
		name = filepath.Base(path)
	}
	e.attachments = append(e.attachments, attachment{data: data, name: name, ignoreIfError: opt.IgnoreIfError})
	return nil
}

// checkText refuses, before the library sees them, the strings it could not take at all: not
// UTF-8, or with a NUL.
func checkText(ev *Event) *Error {
	for _, f := range [...]struct{ name, value string }{
		{"distinct_id", ev.DistinctId}, {"event", ev.EventName}, {"idempotency_key", ev.IdempotencyKey},
		{"tenant_id", ev.TenantId}, {"brand_id", ev.BrandId},
	} {
		if !utf8.ValidString(f.value) || strings.IndexByte(f.value, 0) >= 0 {
			return &Error{Code: 400, Message: f.name + ": must be UTF-8 text without NUL characters", Err: StatusArgument}
		}
	}
	return nil
}

// asJSON is the event as a failed record shows it when it never reached the library.
func (e *Event) asJSON() map[string]any {
	m := map[string]any{"event": e.EventName, "distinct_id": e.DistinctId, "properties": e.Properties}
	if e.IdempotencyKey != "" {
		m["$idempotency_key"] = e.IdempotencyKey
	}
	if e.TenantId != "" {
		m["tenant_id"] = e.TenantId
	}
	if e.BrandId != "" {
		m["brand_id"] = e.BrandId
	}
	return m
}

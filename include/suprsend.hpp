/*
 * suprsend.hpp: a C++17 wrapper over suprsend.h, header-only.
 *
 * Handles that free themselves, std::string_view in, std::string out, an exception for every
 * failure and, beside each call that can fail, an overload taking std::error_code& that
 * never throws suprsend::Error (as std::filesystem's do). Only the standard library and
 * suprsend.h are needed: link libsuprsend as for C (pkg-config --cflags --libs suprsend).
 *
 *     suprsend::Options opts("WORKSPACE_KEY", "WORKSPACE_SECRET");
 *     suprsend::Client client(opts);                 // the client keeps its own copy of opts
 *
 *     suprsend::Event ev("user_1", "product_purchased");
 *     ev.set_properties_json(R"({"first_name":"User","spend":10})");
 *     try {
 *         suprsend::Response r = client.track_event(ev);
 *         std::cout << "accepted: " << r.message() << "\n";          // the message_id
 *     } catch (const suprsend::Error &e) {
 *         std::cerr << e.what() << "\n";    // "SUPRSEND_E_HTTP: ..."; e.status(), e.http_status()
 *     }
 *
 *     std::error_code ec;                                // or without exceptions
 *     client.enqueue(ev, ec);
 *     if (ec == suprsend::Status::queue_full) { ...suprsend::last_error()... }
 *
 * Conventions
 *  - Errors. A call that fails throws suprsend::Error, which carries the status (the C code
 *    as suprsend::Status) and the library's message. Its overload taking std::error_code& sets
 *    the code instead (category suprsend::status_category(), comparable with Status values),
 *    clears it on success, and leaves the message in suprsend::last_error() on this thread.
 *    Either may still throw std::bad_alloc. Exceptions to the rule are said where they apply
 *    (Bulk::trigger returns its response when some events failed).
 *  - Strings in are std::string_view, copied before the call (the C API wants NUL-terminated
 *    text); one holding a NUL byte is refused with Status::argument. Strings out are
 *    std::string copies, except the log callback's line (valid during the call).
 *  - Handles are move-only and free themselves. A moved-from (or failed-to-create) handle is
 *    empty: passing it to the library is safe and fails with Status::argument, and its getters
 *    answer 0, false or "". A closed Client is not empty: it keeps its handle until it is
 *    destroyed, and its calls fail with Status::closed. native() gives the C handle, still
 *    owned by the object.
 *  - Threads: as in C. A Client may be used from many threads at once; Options, Event, Bulk
 *    and responses by one thread at a time. The callbacks run on library threads (see
 *    Options::set_log and Options::set_delivery_callback).
 */
#ifndef SUPRSEND_HPP
#define SUPRSEND_HPP

#include <suprsend.h>

#include <chrono>
#include <cstddef>
#include <exception>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>

namespace suprsend {

/* ---------------------------------------------------------------------------------------
 * Status codes, the error category, the exception
 * ------------------------------------------------------------------------------------- */

/* The C status codes (SUPRSEND_OK, SUPRSEND_E_...), same values. A value a newer library
 * returns that this header does not name is kept as it is. */
enum class Status : int {
    ok = SUPRSEND_OK,
    argument = SUPRSEND_E_ARGUMENT,
    validation = SUPRSEND_E_VALIDATION,
    too_large = SUPRSEND_E_TOO_LARGE,
    attachment = SUPRSEND_E_ATTACHMENT,
    network = SUPRSEND_E_NETWORK,
    http = SUPRSEND_E_HTTP,
    timeout = SUPRSEND_E_TIMEOUT,
    queue_full = SUPRSEND_E_QUEUE_FULL,
    storage = SUPRSEND_E_STORAGE,
    closed = SUPRSEND_E_CLOSED,
    internal = SUPRSEND_E_INTERNAL,
};

/* The code's name, e.g. "SUPRSEND_E_VALIDATION" ("SUPRSEND_E_UNKNOWN" for a value that is
 * not a code). */
inline std::string status_name(Status status) { return suprsend_status_name(static_cast<int>(status)); }

namespace detail {
class StatusCategory final : public std::error_category {
public:
    const char *name() const noexcept override { return "suprsend"; }
    std::string message(int code) const override { return suprsend_status_name(code); }
};
} // namespace detail

/* The category of suprsend status codes: name() "suprsend", message(code) the code's name.
 * One object in the whole program, as error categories must be. */
inline const std::error_category &status_category() noexcept {
    static const detail::StatusCategory category;
    return category;
}

inline std::error_code make_error_code(Status status) noexcept {
    return std::error_code(static_cast<int>(status), status_category());
}

/* The message of the last call of this header's API that failed on this thread (the
 * library's suprsend_last_error() at that moment, or the wrapper's own words for a string
 * with a NUL byte or an empty handle). Valid until the next failure on this thread; ""
 * when nothing failed yet. */
inline std::string last_error();

/* A failure. what() is "NAME: message" ("SUPRSEND_E_VALIDATION: event name: must not start
 * with '$' or 'ss_' ('$purchase')"). */
class Error : public std::runtime_error {
public:
    Error(Status status, const std::string &message, int http_status = 0)
        : std::runtime_error(status_name(status) + ": " + message), status_(status), message_(message),
          http_status_(http_status) {}

    Status status() const noexcept { return status_; }
    std::error_code code() const noexcept { return make_error_code(status_); }
    /* The library's message alone, without the name. */
    const std::string &message() const noexcept { return message_; }
    /* The hub's HTTP status when a request got an answer (Client::track_event), else 0. */
    int http_status() const noexcept { return http_status_; }

private:
    Status status_;
    std::string message_;
    int http_status_;
};

} // namespace suprsend

namespace std {
/* Lets a Status compare with, and convert to, a std::error_code: ec == suprsend::Status::http. */
template <>
struct is_error_code_enum<suprsend::Status> : true_type {};
} // namespace std

namespace suprsend {

namespace detail {

inline std::string &last_error_slot() {
    static thread_local std::string message;
    return message;
}

/* A C status to an error code; on failure the library's message is kept for last_error(). */
inline std::error_code check(int rc) {
    if (rc == SUPRSEND_OK) return {};
    last_error_slot() = suprsend_last_error();
    return make_error_code(static_cast<Status>(rc));
}

/* A failure the wrapper finds itself. */
inline std::error_code fail(Status status, std::string message) {
    last_error_slot() = std::move(message);
    return make_error_code(status);
}

inline void throw_if(const std::error_code &ec, int http_status = 0) {
    if (ec) throw Error(static_cast<Status>(ec.value()), last_error_slot(), http_status);
}

/* text, NUL-terminated, into out; Status::argument when it holds a NUL byte (C would see
 * only what comes before it). */
inline std::error_code to_c_string(std::string_view text, const char *what, std::string &out) {
    if (text.find('\0') != std::string_view::npos)
        return fail(Status::argument, std::string(what) + ": contains a NUL byte");
    out.assign(text.data(), text.size());
    return {};
}

/* A duration as the C API's long, saturated (the library then refuses what is out of range). */
template <class Rep, class Period>
long to_c_long(std::chrono::duration<Rep, Period> d) noexcept {
    auto n = d.count();
    if constexpr (sizeof(n) > sizeof(long)) {
        if (n > static_cast<decltype(n)>(std::numeric_limits<long>::max())) return std::numeric_limits<long>::max();
        if (n < static_cast<decltype(n)>(std::numeric_limits<long>::min())) return std::numeric_limits<long>::min();
    }
    return static_cast<long>(n);
}

} // namespace detail

inline std::string last_error() { return detail::last_error_slot(); }

/* The library loaded at run time (may be newer than this header: SUPRSEND_VERSION_STRING). */
inline std::string version() { return suprsend_version(); }
inline int version_number() noexcept { return suprsend_version_number(); }

/* For the timeouts of Client::flush and Client::close: wait without a deadline. */
inline constexpr std::chrono::milliseconds no_deadline{-1};

/* Log levels, with the numbers of suprsend.h (and Python's logging). */
enum class LogLevel : int {
    debug = SUPRSEND_LOG_DEBUG,
    info = SUPRSEND_LOG_INFO,
    warning = SUPRSEND_LOG_WARNING,
    error = SUPRSEND_LOG_ERROR,
};

/* The fate of one event enqueued for background delivery (Client::enqueue), copied out of
 * the library's: it may be kept after the callback returns. */
struct Delivery {
    /* ok: delivered; http: refused by the hub; network: not sent again (no idempotency key);
     * timeout: expired (max_event_age); closed: still queued when the client closed. */
    Status status = Status::ok;
    int http_status = 0;          /* the hub's status for this event; 0 when none */
    std::string message;          /* the message_id when delivered, else why not */
    std::string insert_id;        /* the event's $insert_id, fixed at enqueue */
    std::string idempotency_key;  /* the key it was sent with; "" when none */
    std::string event_name;
    std::string distinct_id;
    int attempts = 0;             /* requests that carried it (0: never sent) */

    bool delivered() const noexcept { return status == Status::ok; }
};

/* Receives one log line (no trailing newline); the view is valid only during the call. */
using LogCallback = std::function<void(LogLevel level, std::string_view message)>;
/* Receives each enqueued event's fate, once. */
using DeliveryCallback = std::function<void(const Delivery &delivery)>;

namespace detail {

/* The callables of one client, owned by the Client (or held by Options until one is made). */
struct Callbacks {
    LogLevel log_level = LogLevel::warning;
    LogCallback log;
    DeliveryCallback delivery;
};

/* The C callbacks. user_data is the Client's Callbacks (nullptr on an Options handle that no
 * client is being made from: then they do nothing). No exception crosses into C. */
inline void log_trampoline(int level, const char *message, void *user_data) noexcept {
    auto *callbacks = static_cast<Callbacks *>(user_data);
    if (!callbacks || !callbacks->log) return;
    try {
        callbacks->log(static_cast<LogLevel>(level), message ? std::string_view(message) : std::string_view());
    } catch (...) {
        // A logger that throws loses its line; the library goes on.
    }
}

inline void delivery_trampoline(const suprsend_delivery *d, void *user_data) noexcept {
    auto *callbacks = static_cast<Callbacks *>(user_data);
    if (!callbacks || !callbacks->delivery || !d) return;
    std::string why;
    try {
        Delivery delivery;
        delivery.status = static_cast<Status>(suprsend_delivery_status(d));
        delivery.http_status = suprsend_delivery_http_status(d);
        delivery.message = suprsend_delivery_message(d);
        delivery.insert_id = suprsend_delivery_insert_id(d);
        delivery.idempotency_key = suprsend_delivery_idempotency_key(d);
        delivery.event_name = suprsend_delivery_event_name(d);
        delivery.distinct_id = suprsend_delivery_distinct_id(d);
        delivery.attempts = suprsend_delivery_attempts(d);
        callbacks->delivery(delivery);
        return;
    } catch (const std::exception &e) {
        why = e.what();
    } catch (...) {
        why = "an exception that is not a std::exception";
    }
    // The exception stops here: it is told to the log callback, if any, and dropped.
    try {
        if (callbacks->log && callbacks->log_level <= LogLevel::error)
            callbacks->log(LogLevel::error, "delivery callback threw: " + why);
    } catch (...) {
    }
}

} // namespace detail

/* ---------------------------------------------------------------------------------------
 * Options
 * ------------------------------------------------------------------------------------- */

/* Options for a Client, with the workspace's key and secret. Each setter checks its value at
 * once (Status::argument when it is out of range) and returns *this, so that they chain:
 *
 *     suprsend::Options opts(key, secret);
 *     opts.set_base_url("http://127.0.0.1:8080/").set_max_retries(0);
 *
 * A Client copies the options; they may be changed or destroyed afterwards. Used by one
 * thread at a time (making a Client from it included). Defaults and ranges: suprsend.h. */
class Options {
public:
    /* Throws Status::argument when the key or secret is empty or not valid UTF-8. */
    Options(std::string_view workspace_key, std::string_view workspace_secret) {
        std::error_code ec;
        init(workspace_key, workspace_secret, ec);
        detail::throw_if(ec);
    }
    /* Leaves the object empty on failure. */
    Options(std::string_view workspace_key, std::string_view workspace_secret, std::error_code &ec) {
        init(workspace_key, workspace_secret, ec);
    }

    Options(Options &&other) noexcept
        : handle_(std::exchange(other.handle_, nullptr)), callbacks_(std::move(other.callbacks_)) {}
    Options &operator=(Options &&other) noexcept {
        if (this != &other) {
            suprsend_options_free(handle_);
            handle_ = std::exchange(other.handle_, nullptr);
            callbacks_ = std::move(other.callbacks_);
        }
        return *this;
    }
    Options(const Options &) = delete;
    Options &operator=(const Options &) = delete;
    ~Options() { suprsend_options_free(handle_); }

    /* "http://host:port/path/" or "https://..."; default SuprSend's hub. */
    Options &set_base_url(std::string_view url) { return throwing(&Options::set_base_url, url); }
    void set_base_url(std::string_view url, std::error_code &ec) {
        set_text(suprsend_options_set_base_url, "base URL", url, ec);
    }

    /* One whole HTTP attempt. */
    Options &set_timeout(std::chrono::milliseconds t) { return throwing(&Options::set_timeout, t); }
    void set_timeout(std::chrono::milliseconds t, std::error_code &ec) {
        ec = detail::check(suprsend_options_set_timeout_ms(handle_, detail::to_c_long(t)));
    }

    /* One whole track_event or Bulk::trigger, retries and waits included. */
    Options &set_call_timeout(std::chrono::milliseconds t) { return throwing(&Options::set_call_timeout, t); }
    void set_call_timeout(std::chrono::milliseconds t, std::error_code &ec) {
        ec = detail::check(suprsend_options_set_call_timeout_ms(handle_, detail::to_c_long(t)));
    }

    Options &set_connect_timeout(std::chrono::milliseconds t) { return throwing(&Options::set_connect_timeout, t); }
    void set_connect_timeout(std::chrono::milliseconds t, std::error_code &ec) {
        ec = detail::check(suprsend_options_set_connect_timeout_ms(handle_, detail::to_c_long(t)));
    }

    /* A proxy URL as libcurl understands it; "" removes it. */
    Options &set_proxy(std::string_view url) { return throwing(&Options::set_proxy, url); }
    void set_proxy(std::string_view url, std::error_code &ec) {
        set_text(suprsend_options_set_proxy, "proxy", url, ec);
    }

    /* A PEM file of CA certificates to trust instead of the system's; "" restores the default. */
    Options &set_ca_file(std::string_view path) { return throwing(&Options::set_ca_file, path); }
    void set_ca_file(std::string_view path, std::error_code &ec) {
        set_text(suprsend_options_set_ca_file, "CA file", path, ec);
    }

    Options &set_max_retries(int n) { return throwing(&Options::set_max_retries, n); }
    void set_max_retries(int n, std::error_code &ec) {
        ec = detail::check(suprsend_options_set_max_retries(handle_, n));
    }

    Options &set_max_event_bytes(long bytes) { return throwing(&Options::set_max_event_bytes, bytes); }
    void set_max_event_bytes(long bytes, std::error_code &ec) {
        ec = detail::check(suprsend_options_set_max_event_bytes(handle_, bytes));
    }

    Options &set_auto_idempotency(bool on) { return throwing(&Options::set_auto_idempotency, on); }
    void set_auto_idempotency(bool on, std::error_code &ec) {
        ec = detail::check(suprsend_options_set_auto_idempotency(handle_, on ? 1 : 0));
    }

    /* Where log lines at min_level or above go; an empty callback turns logging off. The
     * Client keeps a copy of the callable. It runs on the thread that made the request, on
     * several threads at once when several send, and (for a delivery callback that threw, see
     * set_delivery_callback) on the worker thread. It must not call into the same client. An
     * exception it throws is dropped. */
    Options &set_log(LogLevel min_level, LogCallback callback) {
        std::error_code ec;
        set_log(min_level, std::move(callback), ec);
        detail::throw_if(ec);
        return *this;
    }
    void set_log(LogLevel min_level, LogCallback callback, std::error_code &ec) {
        // The library checks the level now; the callable is bound when a Client is made.
        ec = detail::check(suprsend_options_set_log(handle_, static_cast<int>(min_level),
                                                    callback ? detail::log_trampoline : nullptr, nullptr));
        if (ec) return;
        callbacks_.log_level = min_level;
        callbacks_.log = std::move(callback);
    }

    /* Receives each enqueued event's fate, once, after it is final; an empty callback removes
     * it. The Client keeps a copy of the callable. It runs on the client's worker thread, which
     * waits for it: return quickly. Fates of events dropped at close are reported before
     * Client::close or the destructor returns (suprsend.h: possibly on the closing thread).
     * It may call Client::enqueue, never flush, close or destroy the client. An exception it
     * throws is caught: it is told to the log callback (level error, "delivery callback
     * threw: ...") when there is one, and dropped. */
    Options &set_delivery_callback(DeliveryCallback callback) {
        std::error_code ec;
        set_delivery_callback(std::move(callback), ec);
        detail::throw_if(ec);
        return *this;
    }
    void set_delivery_callback(DeliveryCallback callback, std::error_code &ec) {
        ec = detail::check(suprsend_options_set_delivery_callback(
            handle_, callback ? detail::delivery_trampoline : nullptr, nullptr));
        if (ec) return;
        callbacks_.delivery = std::move(callback);
    }

    /* A SQLite file holding the background queue (the durable outbox); "" = memory queue. */
    Options &set_outbox_path(std::string_view path) { return throwing(&Options::set_outbox_path, path); }
    void set_outbox_path(std::string_view path, std::error_code &ec) {
        set_text(suprsend_options_set_outbox_path, "outbox path", path, ec);
    }

    Options &set_outbox_power_safe(bool on) { return throwing(&Options::set_outbox_power_safe, on); }
    void set_outbox_power_safe(bool on, std::error_code &ec) {
        ec = detail::check(suprsend_options_set_outbox_power_safe(handle_, on ? 1 : 0));
    }

    Options &set_queue_capacity(long events) { return throwing(&Options::set_queue_capacity, events); }
    void set_queue_capacity(long events, std::error_code &ec) {
        ec = detail::check(suprsend_options_set_queue_capacity(handle_, events));
    }

    Options &set_outbox_max_bytes(long long bytes) { return throwing(&Options::set_outbox_max_bytes, bytes); }
    void set_outbox_max_bytes(long long bytes, std::error_code &ec) {
        ec = detail::check(suprsend_options_set_outbox_max_bytes(handle_, bytes));
    }

    /* The longest an event waits for its batch to fill (0: send at once). */
    Options &set_flush_interval(std::chrono::milliseconds t) { return throwing(&Options::set_flush_interval, t); }
    void set_flush_interval(std::chrono::milliseconds t, std::error_code &ec) {
        ec = detail::check(suprsend_options_set_flush_interval_ms(handle_, detail::to_c_long(t)));
    }

    Options &set_max_event_age(std::chrono::seconds t) { return throwing(&Options::set_max_event_age, t); }
    void set_max_event_age(std::chrono::seconds t, std::error_code &ec) {
        ec = detail::check(suprsend_options_set_max_event_age_s(handle_, detail::to_c_long(t)));
    }

    /* What the Client's destructor gives queued events. */
    Options &set_shutdown_timeout(std::chrono::milliseconds t) { return throwing(&Options::set_shutdown_timeout, t); }
    void set_shutdown_timeout(std::chrono::milliseconds t, std::error_code &ec) {
        ec = detail::check(suprsend_options_set_shutdown_timeout_ms(handle_, detail::to_c_long(t)));
    }

    explicit operator bool() const noexcept { return handle_ != nullptr; }
    /* The C handle, owned by this object. A client made from it in C gets no C++ callbacks. */
    suprsend_options *native() const noexcept { return handle_; }

private:
    friend class Client;

    void init(std::string_view key, std::string_view secret, std::error_code &ec) {
        std::string k, s;
        if ((ec = detail::to_c_string(key, "workspace key", k))) return;
        if ((ec = detail::to_c_string(secret, "workspace secret", s))) return;
        handle_ = suprsend_options_new(k.c_str(), s.c_str());
        ec = handle_ ? std::error_code() : detail::check(SUPRSEND_E_ARGUMENT);
    }

    void set_text(int (*setter)(suprsend_options *, const char *), const char *what, std::string_view value,
                  std::error_code &ec) {
        std::string text;
        if ((ec = detail::to_c_string(value, what, text))) return;
        ec = detail::check(setter(handle_, text.c_str()));
    }

    template <class T>
    Options &throwing(void (Options::*setter)(T, std::error_code &), T value) {
        std::error_code ec;
        (this->*setter)(value, ec);
        detail::throw_if(ec);
        return *this;
    }

    suprsend_options *handle_ = nullptr;
    detail::Callbacks callbacks_;
};

/* ---------------------------------------------------------------------------------------
 * Events
 * ------------------------------------------------------------------------------------- */

/* An event for a user. Its content rules (names, keys, tenant) are checked when it is sent,
 * enqueued or appended to a bulk. The same object may be sent many times: each send is a new
 * occurrence. One thread at a time. */
class Event {
public:
    /* Throws Status::argument only when an argument is not valid UTF-8 (or holds a NUL). */
    Event(std::string_view distinct_id, std::string_view event_name) {
        std::error_code ec;
        init(distinct_id, event_name, ec);
        detail::throw_if(ec);
    }
    Event(std::string_view distinct_id, std::string_view event_name, std::error_code &ec) {
        init(distinct_id, event_name, ec);
    }

    Event(Event &&other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
    Event &operator=(Event &&other) noexcept {
        if (this != &other) {
            suprsend_event_free(handle_);
            handle_ = std::exchange(other.handle_, nullptr);
        }
        return *this;
    }
    Event(const Event &) = delete;
    Event &operator=(const Event &) = delete;
    ~Event() { suprsend_event_free(handle_); }

    /* The properties, as the text of one JSON object, sent as given; "" means none. On
     * Status::argument (not a JSON object) the earlier properties stay. */
    Event &set_properties_json(std::string_view json_object) {
        std::error_code ec;
        set_properties_json(json_object, ec);
        detail::throw_if(ec);
        return *this;
    }
    void set_properties_json(std::string_view json_object, std::error_code &ec) {
        set_text(suprsend_event_set_properties_json, "properties", json_object, ec);
    }

    /* The hub processes only the first event with a given key in 24 hours; "" removes it. */
    Event &set_idempotency_key(std::string_view key) {
        std::error_code ec;
        set_idempotency_key(key, ec);
        detail::throw_if(ec);
        return *this;
    }
    void set_idempotency_key(std::string_view key, std::error_code &ec) {
        set_text(suprsend_event_set_idempotency_key, "idempotency key", key, ec);
    }

    /* At most 64 characters of A-Z a-z 0-9 _ -; "" removes it. */
    Event &set_tenant_id(std::string_view tenant_id) {
        std::error_code ec;
        set_tenant_id(tenant_id, ec);
        detail::throw_if(ec);
        return *this;
    }
    void set_tenant_id(std::string_view tenant_id, std::error_code &ec) {
        set_text(suprsend_event_set_tenant_id, "tenant id", tenant_id, ec);
    }

    /* The brand, sent as its own top-level key beside tenant_id (as the official SDKs send
     * it); the same rules as the tenant id; "" removes it. */
    Event &set_brand_id(std::string_view brand_id) {
        std::error_code ec;
        set_brand_id(brand_id, ec);
        detail::throw_if(ec);
        return *this;
    }
    void set_brand_id(std::string_view brand_id, std::error_code &ec) {
        set_text(suprsend_event_set_brand_id, "brand id", brand_id, ec);
    }

    /* An attachment: an http(s) URL the hub downloads, or a local file read now. Without a
     * file_name, a file's base name (a URL: none). ignore_if_error: a file that cannot be
     * read is skipped instead of Status::attachment. Status::too_large when it would take the
     * event past what any event can carry. */
    Event &add_attachment(std::string_view path_or_url, std::optional<std::string_view> file_name = std::nullopt,
                          bool ignore_if_error = false) {
        std::error_code ec;
        add_attachment(path_or_url, file_name, ignore_if_error, ec);
        detail::throw_if(ec);
        return *this;
    }
    void add_attachment(std::string_view path_or_url, std::optional<std::string_view> file_name, bool ignore_if_error,
                        std::error_code &ec) {
        std::string where, name;
        if ((ec = detail::to_c_string(path_or_url, "attachment", where))) return;
        if (file_name && (ec = detail::to_c_string(*file_name, "attachment file name", name))) return;
        ec = detail::check(suprsend_event_add_attachment(handle_, where.c_str(), file_name ? name.c_str() : nullptr,
                                                         ignore_if_error ? 1 : 0));
    }

    /* An inline attachment from bytes in memory (copied now). file_name is required;
     * content_type "" means found from file_name's extension, else from the bytes.
     * Status::argument for no bytes or a blank name, Status::too_large as add_attachment. */
    Event &add_attachment_data(std::string_view data, std::string_view file_name, std::string_view content_type = {},
                               bool ignore_if_error = false) {
        std::error_code ec;
        add_attachment_data(data, file_name, content_type, ignore_if_error, ec);
        detail::throw_if(ec);
        return *this;
    }
    void add_attachment_data(std::string_view data, std::string_view file_name, std::string_view content_type,
                             bool ignore_if_error, std::error_code &ec) {
        std::string name, type;
        if ((ec = detail::to_c_string(file_name, "attachment file name", name))) return;
        if ((ec = detail::to_c_string(content_type, "attachment content type", type))) return;
        ec = detail::check(suprsend_event_add_attachment_data(handle_, data.data(), data.size(), name.c_str(),
                                                              type.c_str(), ignore_if_error ? 1 : 0));
    }

    explicit operator bool() const noexcept { return handle_ != nullptr; }
    suprsend_event *native() const noexcept { return handle_; }

private:
    void init(std::string_view distinct_id, std::string_view event_name, std::error_code &ec) {
        std::string id, name;
        if ((ec = detail::to_c_string(distinct_id, "distinct_id", id))) return;
        if ((ec = detail::to_c_string(event_name, "event name", name))) return;
        handle_ = suprsend_event_new(id.c_str(), name.c_str());
        ec = handle_ ? std::error_code() : detail::check(SUPRSEND_E_ARGUMENT);
    }

    void set_text(int (*setter)(suprsend_event *, const char *), const char *what, std::string_view value,
                  std::error_code &ec) {
        std::string text;
        if ((ec = detail::to_c_string(value, what, text))) return;
        ec = detail::check(setter(handle_, text.c_str()));
    }

    suprsend_event *handle_ = nullptr;
};

/* ---------------------------------------------------------------------------------------
 * Responses
 * ------------------------------------------------------------------------------------- */

/* The hub's answer to Client::track_event. Empty when no request was made. */
class Response {
public:
    Response() noexcept = default;
    explicit Response(suprsend_response *adopted) noexcept : handle_(adopted) {}
    Response(Response &&other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
    Response &operator=(Response &&other) noexcept {
        if (this != &other) {
            suprsend_response_free(handle_);
            handle_ = std::exchange(other.handle_, nullptr);
        }
        return *this;
    }
    Response(const Response &) = delete;
    Response &operator=(const Response &) = delete;
    ~Response() { suprsend_response_free(handle_); }

    /* True when the hub accepted the event. */
    bool success() const noexcept { return suprsend_response_success(handle_) != 0; }
    /* The HTTP status of the last attempt; 0 when no answer came. */
    int status_code() const noexcept { return suprsend_response_status_code(handle_); }
    /* The message_id on success, the error text otherwise. */
    std::string message() const { return suprsend_response_message(handle_); }
    /* The body as received (its first 4 MiB, up to a NUL byte). */
    std::string body() const { return suprsend_response_body(handle_); }

    explicit operator bool() const noexcept { return handle_ != nullptr; }
    suprsend_response *native() const noexcept { return handle_; }

private:
    suprsend_response *handle_ = nullptr;
};

/* The merged answer to Bulk::trigger. */
class BulkResponse {
public:
    BulkResponse() noexcept = default;
    BulkResponse(suprsend_bulk_response *adopted, Status result) noexcept : handle_(adopted), result_(result) {}
    BulkResponse(BulkResponse &&other) noexcept
        : handle_(std::exchange(other.handle_, nullptr)), result_(std::exchange(other.result_, Status::argument)) {}
    BulkResponse &operator=(BulkResponse &&other) noexcept {
        if (this != &other) {
            suprsend_bulk_response_free(handle_);
            handle_ = std::exchange(other.handle_, nullptr);
            result_ = std::exchange(other.result_, Status::argument);
        }
        return *this;
    }
    BulkResponse(const BulkResponse &) = delete;
    BulkResponse &operator=(const BulkResponse &) = delete;
    ~BulkResponse() { suprsend_bulk_response_free(handle_); }

    /* "success" (no failures, also for an empty bulk), "partial" or "fail"; "" when empty. */
    std::string status() const { return handle_ ? suprsend_bulk_response_status(handle_) : ""; }
    /* What trigger returned: ok when every event was accepted, else the worst that happened
     * to any of them (network, then http, then too_large, then validation). */
    Status result() const noexcept { return result_; }
    long total() const noexcept { return suprsend_bulk_response_total(handle_); }
    long success_count() const noexcept { return suprsend_bulk_response_success(handle_); }
    long failure_count() const noexcept { return suprsend_bulk_response_failure(handle_); }
    /* The failed records, a JSON array of {"record": {...}, "error": "...", "code": N}. */
    std::string failed_records_json() const {
        return handle_ ? suprsend_bulk_response_failed_records_json(handle_) : "[]";
    }

    explicit operator bool() const noexcept { return handle_ != nullptr; }
    suprsend_bulk_response *native() const noexcept { return handle_; }

private:
    suprsend_bulk_response *handle_ = nullptr;
    Status result_ = Status::argument;
};

/* ---------------------------------------------------------------------------------------
 * Client
 * ------------------------------------------------------------------------------------- */

/* Background delivery counters (suprsend.h, SUPRSEND_STAT_...). */
enum class Stat : int {
    queued = SUPRSEND_STAT_QUEUED,
    in_flight = SUPRSEND_STAT_IN_FLIGHT,
    delivered = SUPRSEND_STAT_DELIVERED,
    refused = SUPRSEND_STAT_REFUSED,
    dropped = SUPRSEND_STAT_DROPPED,
    retries = SUPRSEND_STAT_RETRIES,
    outbox_bytes = SUPRSEND_STAT_OUTBOX_BYTES,
};

struct Stats {
    long long queued = 0, in_flight = 0, delivered = 0, refused = 0, dropped = 0, retries = 0, outbox_bytes = 0;
};

/* A client for one workspace: reuses its connections, may be used from many threads at once.
 * It owns copies of the options' callbacks, which live as long as it does (a closed client
 * included). Destroying it is suprsend_client_free(): when close() was not called, it closes
 * first, and queued events get the shutdown timeout (their fates may be reported on the
 * destroying thread). No other thread may use it then. */
class Client {
public:
    Client() noexcept = default;
    /* Throws Status::argument for an empty Options, Status::network for a too old libcurl. */
    explicit Client(const Options &options) {
        std::error_code ec;
        init(options, ec);
        detail::throw_if(ec);
    }
    Client(const Options &options, std::error_code &ec) { init(options, ec); }

    Client(Client &&other) noexcept
        : handle_(std::exchange(other.handle_, nullptr)), callbacks_(std::move(other.callbacks_)) {}
    Client &operator=(Client &&other) noexcept {
        if (this != &other) {
            reset();
            handle_ = std::exchange(other.handle_, nullptr);
            callbacks_ = std::move(other.callbacks_);
        }
        return *this;
    }
    Client(const Client &) = delete;
    Client &operator=(const Client &) = delete;
    ~Client() { reset(); }

    /* Validates the event and sends it, retrying as the options say; blocks until done.
     * Throws on anything but acceptance: Status::argument, validation, too_large (nothing
     * sent), http (refused: Error::http_status() has the hub's status), network (no answer).
     * The ec overload returns the response whenever a request was made, also on failure. */
    Response track_event(const Event &event) {
        std::error_code ec;
        Response response = track_event(event, ec);
        detail::throw_if(ec, response.status_code());
        return response;
    }
    Response track_event(const Event &event, std::error_code &ec) {
        suprsend_response *out = nullptr;
        ec = detail::check(suprsend_track_event(handle_, event.native(), &out));
        return Response(out);
    }

    /* Checks the event and queues it for the worker thread; never waits on the network.
     * Throws Status::argument, validation, too_large, attachment, queue_full, storage (outbox)
     * or closed; nothing is queued then. The fate goes to the delivery callback. */
    void enqueue(const Event &event) {
        std::error_code ec;
        enqueue(event, ec);
        detail::throw_if(ec);
    }
    void enqueue(const Event &event, std::error_code &ec) {
        ec = detail::check(suprsend_enqueue(handle_, event.native()));
    }

    /* Sends what is queued now and waits until every event enqueued before has its fate.
     * Status::timeout when the deadline passes first (the events go on being delivered).
     * Never from the delivery callback. */
    void flush(std::chrono::milliseconds timeout = no_deadline) {
        std::error_code ec;
        flush(timeout, ec);
        detail::throw_if(ec);
    }
    void flush(std::chrono::milliseconds timeout, std::error_code &ec) {
        ec = detail::check(suprsend_flush(handle_, detail::to_c_long(timeout)));
    }

    /* Stops accepting events, delivers what it can before the deadline and stops the worker
     * (suprsend_client_close). Status::timeout when events were left (memory queue: reported
     * as Status::closed; outbox: kept in it); Status::storage when the outbox is damaged or
     * failing. The client keeps its handle, also when it throws: every later call on it
     * (track_event, enqueue, flush, Bulk::trigger, close again) fails with Status::closed, also
     * on other threads while the close runs, so a shutdown thread may close while others still
     * use the client; stat() and stats() still answer (the final counters). The destructor
     * frees it (and then the callbacks). */
    void close(std::chrono::milliseconds timeout) {
        std::error_code ec;
        close(timeout, ec);
        detail::throw_if(ec);
    }
    void close(std::chrono::milliseconds timeout, std::error_code &ec) {
        if (!handle_) {
            ec = detail::fail(Status::argument, "client: moved from or never created");
            return;
        }
        ec = detail::check(suprsend_client_close(handle_, detail::to_c_long(timeout)));
    }

    /* One counter of background delivery. */
    long long stat(Stat which) const {
        std::error_code ec;
        long long value = stat(which, ec);
        detail::throw_if(ec);
        return value;
    }
    long long stat(Stat which, std::error_code &ec) const {
        long long value = 0;
        ec = detail::check(suprsend_client_stat(handle_, static_cast<int>(which), &value));
        return value;
    }
    /* All of them at one instant (suprsend_client_stats): each event is counted once. */
    Stats stats() const {
        std::error_code ec;
        Stats s = stats(ec);
        detail::throw_if(ec);
        return s;
    }
    Stats stats(std::error_code &ec) const {
        long long v[SUPRSEND_STAT_COUNT] = {};
        Stats s;
        ec = detail::check(suprsend_client_stats(handle_, v, SUPRSEND_STAT_COUNT));
        if (ec) return s; // all zero on failure
        s.queued = v[SUPRSEND_STAT_QUEUED - 1];
        s.in_flight = v[SUPRSEND_STAT_IN_FLIGHT - 1];
        s.delivered = v[SUPRSEND_STAT_DELIVERED - 1];
        s.refused = v[SUPRSEND_STAT_REFUSED - 1];
        s.dropped = v[SUPRSEND_STAT_DROPPED - 1];
        s.retries = v[SUPRSEND_STAT_RETRIES - 1];
        s.outbox_bytes = v[SUPRSEND_STAT_OUTBOX_BYTES - 1];
        return s;
    }

    /* True while it holds a handle: from a successful construction until it is destroyed or
     * moved from (a closed client included). */
    explicit operator bool() const noexcept { return handle_ != nullptr; }
    /* The C handle, owned by this object. */
    suprsend_client *native() const noexcept { return handle_; }

private:
    void init(const Options &options, std::error_code &ec) {
        suprsend_options *opts = options.native();
        if (opts && (options.callbacks_.log || options.callbacks_.delivery)) {
            callbacks_ = std::make_unique<detail::Callbacks>(options.callbacks_);
            bind(opts, callbacks_.get());
        }
        suprsend_client *client = nullptr;
        int rc = suprsend_client_new(opts, &client);
        ec = detail::check(rc); // before bind(): the message is this call's
        // The options go back to callbacks that do nothing, so that no client made from them
        // later (in C, through native()) can reach this one's callables.
        if (callbacks_) bind(opts, nullptr);
        if (ec) {
            callbacks_.reset();
            return;
        }
        handle_ = client;
    }

    void bind(suprsend_options *opts, detail::Callbacks *target) {
        if (callbacks_->log)
            suprsend_options_set_log(opts, static_cast<int>(callbacks_->log_level), detail::log_trampoline, target);
        if (callbacks_->delivery) suprsend_options_set_delivery_callback(opts, detail::delivery_trampoline, target);
    }

    void reset() noexcept {
        suprsend_client_free(handle_); // may report fates on this thread: the callbacks live on
        handle_ = nullptr;
        callbacks_.reset();
    }

    suprsend_client *handle_ = nullptr;
    std::unique_ptr<detail::Callbacks> callbacks_;
};

/* ---------------------------------------------------------------------------------------
 * Bulk
 * ------------------------------------------------------------------------------------- */

/* A bulk of events for a client, which must outlive it. Sent once. One thread at a time. */
class Bulk {
public:
    /* Throws Status::argument for an empty client. */
    explicit Bulk(const Client &client) {
        std::error_code ec;
        init(client, ec);
        detail::throw_if(ec);
    }
    Bulk(const Client &client, std::error_code &ec) { init(client, ec); }

    Bulk(Bulk &&other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
    Bulk &operator=(Bulk &&other) noexcept {
        if (this != &other) {
            suprsend_bulk_free(handle_);
            handle_ = std::exchange(other.handle_, nullptr);
        }
        return *this;
    }
    Bulk(const Bulk &) = delete;
    Bulk &operator=(const Bulk &) = delete;
    ~Bulk() { suprsend_bulk_free(handle_); }

    /* Copies the event in and validates it. An invalid event is kept as a failed record of
     * the response (never sent) and its status is thrown now: Status::validation or
     * too_large. Status::argument, nothing kept, when the bulk was already triggered. */
    void append(const Event &event) {
        std::error_code ec;
        append(event, ec);
        detail::throw_if(ec);
    }
    void append(const Event &event, std::error_code &ec) {
        ec = detail::check(suprsend_bulk_append(handle_, event.native()));
    }

    /* Events appended so far, valid or not. */
    long count() const noexcept { return suprsend_bulk_count(handle_); }

    /* Sends the valid events in order, in requests of at most 100 events and 800 KiB. Unlike
     * the rest of this header it does not throw when events fail: the response tells which
     * (failed_records_json) and result() is the worst status. It throws only when nothing
     * was attempted and there is no response: Status::argument for a bulk already triggered
     * or empty, Status::closed when its client was closed. The ec overload sets ec to result(). */
    BulkResponse trigger() {
        std::error_code ec;
        BulkResponse response = trigger(ec);
        if (!response) detail::throw_if(ec);
        return response;
    }
    BulkResponse trigger(std::error_code &ec) {
        suprsend_bulk_response *out = nullptr;
        int rc = suprsend_bulk_trigger(handle_, &out);
        ec = detail::check(rc);
        return BulkResponse(out, static_cast<Status>(rc));
    }

    explicit operator bool() const noexcept { return handle_ != nullptr; }
    suprsend_bulk *native() const noexcept { return handle_; }

private:
    void init(const Client &client, std::error_code &ec) {
        if (!client) {
            ec = detail::fail(Status::argument, "bulk: the client was moved from or never created");
            return;
        }
        handle_ = suprsend_bulk_new(client.native());
        ec = handle_ ? std::error_code() : detail::check(SUPRSEND_E_ARGUMENT);
    }

    suprsend_bulk *handle_ = nullptr;
};

} // namespace suprsend

#endif /* SUPRSEND_HPP */

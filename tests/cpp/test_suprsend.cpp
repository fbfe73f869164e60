/*
 * test_suprsend.cpp: the C++ header (suprsend.hpp) against libsuprsend and the local hub.
 *
 *   test_suprsend BASE_URL KEY SECRET      (tests/cpp/run.sh starts the hub and passes them)
 *
 * Each check counts as passed or failed; a failed one prints "FAIL file:line [section] ...".
 * The last line is "N passed, M failed"; the exit status is 0 only when M == 0.
 * SUPRSEND_TEST_VERBOSE=1 prints every passing check too.
 */
#include <suprsend.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

#include "hub_shim.h"

// In second_tu.cpp: the category as another translation unit sees it (there must be one).
const std::error_category *status_category_from_second_tu();

namespace {

using namespace std::chrono_literals;
using suprsend::Status;

int g_passed = 0, g_failed = 0;
bool g_verbose = false;
const char *g_section = "";
std::string g_url, g_key, g_secret;

void record(bool ok, const char *file, int line, const std::string &what) {
    if (ok) {
        g_passed++;
        if (!g_verbose) return;
    } else {
        g_failed++;
    }
    std::cout << (ok ? "ok   " : "FAIL ") << file << ":" << line << " [" << g_section << "] " << what << std::endl;
}

template <class T>
std::string show(const T &v) {
    std::ostringstream out;
    out << v;
    return out.str();
}
std::string show(Status s) { return suprsend::status_name(s); }
std::string show(const std::error_code &ec) {
    return ec ? ec.category().name() + std::string(":") + ec.message() : "(no error)";
}
std::string show(const std::string &s) { return "\"" + s.substr(0, 300) + "\""; }

template <class A, class B>
bool check_eq_impl(const A &got, const B &want, const char *file, int line, const char *expr) {
    bool ok = got == want;
    record(ok, file, line, std::string(expr) + ": got " + show(got) + ", expected " + show(B(want)));
    return ok;
}

#define CHECK(cond) record(static_cast<bool>(cond), __FILE__, __LINE__, #cond)
#define CHECK_EQ(got, want) check_eq_impl((got), (want), __FILE__, __LINE__, #got " == " #want)
#define CHECK_CONTAINS(hay, needle)                                                                              \
    record(std::string(hay).find(needle) != std::string::npos, __FILE__, __LINE__,                              \
           std::string(#hay) + " contains \"" + (needle) + "\": " + show(std::string(hay)))

/* Runs body, which must throw suprsend::Error with the given status; returns the error (a
 * default one when none was thrown). */
template <class F>
suprsend::Error expect_error(Status want, F &&body, const char *file, int line, const char *expr) {
    try {
        body();
    } catch (const suprsend::Error &e) {
        record(e.status() == want, file, line,
               std::string(expr) + " threw " + show(e.status()) + " (" + e.what() + "), expected " + show(want));
        return e;
    } catch (const std::exception &e) {
        record(false, file, line, std::string(expr) + " threw another exception: " + e.what());
        return suprsend::Error(Status::internal, "wrong exception");
    }
    record(false, file, line, std::string(expr) + " did not throw, expected " + show(want));
    return suprsend::Error(Status::internal, "no exception");
}
#define CHECK_THROWS(status, stmt) expect_error((status), [&] { stmt; }, __FILE__, __LINE__, #stmt)

void hub_reset() {
    int st = shim_hub_post("/_hub/reset", "{}");
    if (st != 200) std::cout << "warning: POST /_hub/reset answered " << st << std::endl;
}
void hub_faults(const char *config) {
    int st = shim_hub_post("/_hub/faults", config);
    if (st != 200) std::cout << "warning: POST /_hub/faults answered " << st << std::endl;
}
std::string hub_event_string(long index, const char *path) {
    char buf[4096];
    return shim_hub_event_string(index, path, buf, sizeof buf) ? std::string(buf) : std::string("(none)");
}
std::string hub_attachment_string(long index, long item, const char *field) {
    char buf[4096];
    return shim_hub_event_array_string(index, "properties.$attachments", item, field, buf, sizeof buf)
               ? std::string(buf)
               : std::string("(none)");
}

/* Options for the test workspace on the local hub: no retries, so refusals come back at once. */
suprsend::Options hub_options(std::string_view secret = {}) {
    suprsend::Options opts(g_key, secret.empty() ? std::string_view(g_secret) : secret);
    opts.set_base_url(g_url).set_max_retries(0).set_timeout(10s).set_flush_interval(0ms);
    return opts;
}

/* Collects delivery fates from the worker thread. */
struct FateLog {
    std::mutex mutex;
    std::condition_variable changed;
    std::vector<suprsend::Delivery> fates;
    std::vector<std::thread::id> threads;

    suprsend::DeliveryCallback callback() {
        return [this](const suprsend::Delivery &d) {
            std::lock_guard<std::mutex> lock(mutex);
            fates.push_back(d);
            threads.push_back(std::this_thread::get_id());
            changed.notify_all();
        };
    }
    size_t size() {
        std::lock_guard<std::mutex> lock(mutex);
        return fates.size();
    }
    size_t count(Status s) {
        std::lock_guard<std::mutex> lock(mutex);
        size_t n = 0;
        for (const auto &f : fates) n += f.status == s;
        return n;
    }
    bool wait_for_size(size_t n, std::chrono::milliseconds limit) {
        std::unique_lock<std::mutex> lock(mutex);
        return changed.wait_for(lock, limit, [&] { return fates.size() >= n; });
    }
};

/* ---------------------------------------------------------------------------------------- */

void test_status_and_version() {
    g_section = "status";
    static_assert(static_cast<int>(Status::validation) == SUPRSEND_E_VALIDATION);
    static_assert(static_cast<int>(Status::internal) == SUPRSEND_E_INTERNAL);
    static_assert(!std::is_copy_constructible_v<suprsend::Client>);
    static_assert(std::is_nothrow_move_constructible_v<suprsend::Client>);
    static_assert(std::is_nothrow_move_assignable_v<suprsend::Event>);

    std::error_code ec = Status::http;
    CHECK_EQ(std::string(ec.category().name()), std::string("suprsend"));
    CHECK_EQ(ec.message(), std::string("SUPRSEND_E_HTTP"));
    CHECK(ec == Status::http);
    CHECK(ec != Status::network);
    CHECK(!suprsend::make_error_code(Status::ok));
    CHECK_EQ(suprsend::status_name(static_cast<Status>(42)), std::string("SUPRSEND_E_UNKNOWN"));
    CHECK_EQ(suprsend::status_name(Status::queue_full), std::string("SUPRSEND_E_QUEUE_FULL"));
    CHECK(&suprsend::status_category() == status_category_from_second_tu());

    suprsend::Error e(Status::validation, "event name: too short", 0);
    CHECK_EQ(std::string(e.what()), std::string("SUPRSEND_E_VALIDATION: event name: too short"));
    CHECK(e.code() == Status::validation);
    CHECK_EQ(e.message(), std::string("event name: too short"));
    CHECK_EQ(e.http_status(), 0);
    const std::runtime_error &base = e;
    CHECK_EQ(std::string(base.what()), std::string(e.what()));

    g_section = "version";
    CHECK(!suprsend::version().empty());
    CHECK(suprsend::version_number() >= SUPRSEND_VERSION_NUMBER);
    CHECK_EQ(suprsend::version().substr(0, 2), std::string("0."));
}

void test_options() {
    g_section = "options";
    auto e = CHECK_THROWS(Status::argument, suprsend::Options("", "secret"));
    CHECK(!e.message().empty());
    CHECK_EQ(suprsend::last_error(), e.message());

    std::error_code ec;
    suprsend::Options empty("key", "", ec);
    CHECK_EQ(ec, Status::argument);
    CHECK(!empty);

    // A view with a NUL byte inside: C would see only "key"; the wrapper refuses it.
    std::string with_nul("key\0more", 8);
    e = CHECK_THROWS(Status::argument, suprsend::Options(with_nul, "secret"));
    CHECK_CONTAINS(e.message(), "NUL");

    suprsend::Options opts("key", "secret");
    CHECK(static_cast<bool>(opts));
    e = CHECK_THROWS(Status::argument, opts.set_max_retries(99));
    CHECK_CONTAINS(std::string(e.what()), "SUPRSEND_E_ARGUMENT: ");
    ec = Status::internal;
    opts.set_max_retries(2, ec);
    CHECK(!ec); // cleared on success
    opts.set_max_retries(-1, ec);
    CHECK_EQ(ec, Status::argument);
    CHECK(!suprsend::last_error().empty());
    CHECK_THROWS(Status::argument, opts.set_base_url("ftp://example.com/"));
    CHECK_THROWS(Status::argument, opts.set_timeout(0ms));
    CHECK_THROWS(Status::argument, opts.set_timeout(2h)); // over 3600000 ms
    opts.set_timeout(1h, ec);
    CHECK(!ec);
    CHECK_THROWS(Status::argument, opts.set_max_event_age(std::chrono::hours(24)));
    CHECK_THROWS(Status::argument, opts.set_proxy("gopher://proxy:70"));
    opts.set_proxy("", ec);
    CHECK(!ec);
    opts.set_log(suprsend::LogLevel::warning, [](auto, auto) {}, ec);
    CHECK(!ec);
    opts.set_log(suprsend::LogLevel::info, nullptr, ec); // an empty callback: logging off
    CHECK(!ec);
    // Chaining returns the same object.
    CHECK(&opts.set_max_retries(1).set_auto_idempotency(false) == &opts);

    // Moved from: empty, and every call on it fails cleanly.
    suprsend::Options moved = std::move(opts);
    CHECK(!opts);
    CHECK(static_cast<bool>(moved));
    opts.set_max_retries(1, ec);
    CHECK_EQ(ec, Status::argument);
    suprsend::Client from_empty(opts, ec);
    CHECK_EQ(ec, Status::argument);
    CHECK(!from_empty);
    CHECK_THROWS(Status::argument, suprsend::Client{opts});
}

void test_track_accepted() {
    g_section = "track accepted";
    hub_reset();
    suprsend::Client client(hub_options());
    suprsend::Event ev("user_cpp_1", "cpp_purchase");
    ev.set_properties_json(R"({"first_name":"Ada","spend":10,"nested":{"k":"v"}})");
    suprsend::Response r = client.track_event(ev);
    CHECK(static_cast<bool>(r));
    CHECK(r.success());
    CHECK_EQ(r.status_code(), 202);
    CHECK(!r.message().empty());
    CHECK_CONTAINS(r.body(), "success");
    CHECK_EQ(shim_hub_stat("accepted"), 1L);
    CHECK_EQ(hub_event_string(0, "event"), std::string("cpp_purchase"));
    CHECK_EQ(hub_event_string(0, "distinct_id"), std::string("user_cpp_1"));
    CHECK_EQ(hub_event_string(0, "properties.first_name"), std::string("Ada"));
    CHECK_EQ(hub_event_string(0, "properties.nested.k"), std::string("v"));

    // Views that are not NUL-terminated: only the viewed characters are sent.
    std::string buffer = "user_cpp_2XYZ cpp_view_eventXYZ";
    std::string_view id = std::string_view(buffer).substr(0, 10);
    std::string_view name = std::string_view(buffer).substr(14, 14);
    suprsend::Event viewed(id, name);
    viewed.set_idempotency_key(std::string_view("order-1234-tail").substr(0, 10)).set_tenant_id("tenant_a");
    viewed.set_brand_id("brand_a");
    r = client.track_event(viewed);
    CHECK(r.success());
    CHECK_EQ(shim_hub_stat("accepted"), 2L);
    CHECK_EQ(hub_event_string(1, "distinct_id"), std::string("user_cpp_2"));
    CHECK_EQ(hub_event_string(1, "event"), std::string("cpp_view_event"));
    CHECK_EQ(hub_event_string(1, "$idempotency_key"), std::string("order-1234"));
    CHECK_EQ(hub_event_string(1, "tenant_id"), std::string("tenant_a"));
    CHECK_EQ(hub_event_string(1, "brand_id"), std::string("brand_a"));

    // The ec overload, on success: ec cleared, the response returned.
    std::error_code ec = Status::internal;
    suprsend::Event third("user_cpp_3", "cpp_purchase");
    r = client.track_event(third, ec);
    CHECK(!ec);
    CHECK(r.success());
    CHECK_EQ(shim_hub_stat("accepted"), 3L);
}

void test_track_refused() {
    g_section = "track refused";
    hub_reset();
    // A wrong secret: the hub answers 401.
    suprsend::Client wrong(hub_options("not_the_secret"));
    suprsend::Event ev("user_cpp_1", "cpp_refused");
    auto e = CHECK_THROWS(Status::http, wrong.track_event(ev));
    CHECK_EQ(e.http_status(), 401);
    CHECK(!e.message().empty());
    CHECK_CONTAINS(std::string(e.what()), "SUPRSEND_E_HTTP: ");
    CHECK(e.code() == Status::http);

    std::error_code ec;
    suprsend::Response r = wrong.track_event(ev, ec);
    CHECK_EQ(ec, Status::http);
    CHECK(static_cast<bool>(r));
    CHECK(!r.success());
    CHECK_EQ(r.status_code(), 401);
    CHECK(!r.body().empty());
    CHECK(!suprsend::last_error().empty());

    // The right secret, but the hub refuses the record (an injected 400).
    suprsend::Client client(hub_options());
    hub_faults(R"({"script":[{"refuse_records":[0]}]})");
    e = CHECK_THROWS(Status::http, client.track_event(ev));
    CHECK_EQ(e.http_status(), 400);
    CHECK_EQ(shim_hub_stat("accepted"), 0L);

    // No hub at all: nothing answers (the port is closed).
    suprsend::Options none("key", "secret");
    none.set_base_url("http://127.0.0.1:1/").set_max_retries(0).set_connect_timeout(2s);
    suprsend::Client unreachable(none);
    e = CHECK_THROWS(Status::network, unreachable.track_event(ev));
    CHECK_EQ(e.http_status(), 0);
}

void test_validation() {
    g_section = "validation";
    hub_reset();
    suprsend::Client client(hub_options());
    long requests = shim_hub_stat("requests");

    suprsend::Event reserved("user_cpp_1", "$purchase");
    auto e = CHECK_THROWS(Status::validation, client.track_event(reserved));
    CHECK_CONTAINS(e.message(), "event name");
    std::error_code ec;
    suprsend::Response r = client.track_event(reserved, ec);
    CHECK_EQ(ec, Status::validation);
    CHECK(!r); // nothing was sent: no response
    CHECK_EQ(suprsend::last_error(), e.message());

    suprsend::Event blank_user(" ", "cpp_event");
    CHECK_THROWS(Status::validation, client.track_event(blank_user));

    suprsend::Event ev("user_cpp_1", "cpp_event");
    ev.set_properties_json(R"({"kept":true})");
    CHECK_THROWS(Status::argument, ev.set_properties_json("[1,2]"));
    CHECK_THROWS(Status::argument, ev.set_properties_json("{\"a\":"));
    std::string with_nul("{}\0{\"x\":1}", 10);
    e = CHECK_THROWS(Status::argument, ev.set_properties_json(with_nul));
    CHECK_CONTAINS(e.message(), "properties: contains a NUL byte");
    ev.set_tenant_id("no spaces allowed", ec);
    if (!ec) CHECK_THROWS(Status::validation, client.track_event(ev)); // checked at send
    else CHECK(ec == Status::validation || ec == Status::argument);
    ev.set_tenant_id("", ec); // removes it
    CHECK(!ec);
    ev.set_idempotency_key(std::string(300, 'k'), ec);
    if (!ec) CHECK_THROWS(Status::validation, client.track_event(ev)); // checked at send
    else CHECK(ec == Status::validation || ec == Status::argument);
    ev.set_idempotency_key("", ec);
    CHECK(!ec);

    // Invalid UTF-8 is refused when the event is made.
    CHECK_THROWS(Status::argument, suprsend::Event("user_\xff", "cpp_event"));
    suprsend::Event bad("user_\xff", "cpp_event", ec);
    CHECK_EQ(ec, Status::argument);
    CHECK(!bad);
    client.track_event(bad, ec);
    CHECK_EQ(ec, Status::argument);

    CHECK_EQ(shim_hub_stat("requests"), requests); // none of it reached the hub

    // The earlier properties were kept through the refused ones.
    r = client.track_event(ev);
    CHECK(r.success());
    CHECK_EQ(hub_event_string(0, "event"), std::string("cpp_event"));
    CHECK_EQ(shim_hub_event_count(), 1L);
}

void test_attachments(const std::string &dir) {
    g_section = "attachments";
    hub_reset();
    std::string path = dir + "/note.txt";
    {
        std::ofstream f(path);
        f << "hello attachment";
    }
    suprsend::Client client(hub_options());
    suprsend::Event ev("user_cpp_1", "cpp_with_attachments");
    ev.add_attachment(path);
    ev.add_attachment("https://example.com/files/x123", "invoice.pdf");
    auto e = CHECK_THROWS(Status::attachment, ev.add_attachment(dir + "/missing.txt"));
    CHECK_CONTAINS(e.message(), "missing.txt");
    std::error_code ec;
    ev.add_attachment(dir + "/missing.txt", std::nullopt, true, ec); // skipped when sent
    CHECK(!ec);
    CHECK_THROWS(Status::argument, ev.add_attachment(std::string("x\0y", 3)));
    // Bytes from memory: the name trimmed, the type from its extension.
    ev.add_attachment_data(std::string("a,b\n1,2\n"), "  report.csv ");
    CHECK_THROWS(Status::argument, ev.add_attachment_data(std::string(), "empty.txt"));
    CHECK_THROWS(Status::argument, ev.add_attachment_data(std::string("x"), "  "));

    suprsend::Response r = client.track_event(ev);
    CHECK(r.success());
    CHECK_EQ(shim_hub_event_array_len(0, "properties.$attachments"), 3L);
    CHECK_EQ(hub_attachment_string(0, 2, "filename"), std::string("report.csv"));
    CHECK_EQ(hub_attachment_string(0, 2, "contentType"), std::string("text/csv"));
    CHECK_EQ(hub_attachment_string(0, 2, "data"), std::string("YSxiCjEsMgo="));
    CHECK_EQ(hub_attachment_string(0, 0, "filename"), std::string("note.txt"));
    CHECK_EQ(hub_attachment_string(0, 0, "data"), std::string("aGVsbG8gYXR0YWNobWVudA==")); // base64
    CHECK_EQ(hub_attachment_string(0, 1, "url"), std::string("https://example.com/files/x123"));
    CHECK_EQ(hub_attachment_string(0, 1, "filename"), std::string("invoice.pdf"));
}

void test_bulk() {
    g_section = "bulk";
    hub_reset();
    suprsend::Client client(hub_options());
    suprsend::Bulk bulk(client);
    suprsend::Event ev("user_cpp_1", "cpp_bulk");
    for (int i = 0; i < 3; i++) {
        ev.set_properties_json("{\"i\":" + std::to_string(i) + "}");
        bulk.append(ev);
    }
    suprsend::Event invalid("user_cpp_1", "ss_reserved");
    CHECK_THROWS(Status::validation, bulk.append(invalid)); // kept as a failed record
    std::error_code ec;
    suprsend::Event blank(" ", "cpp_bulk");
    bulk.append(blank, ec);
    CHECK_EQ(ec, Status::validation);
    CHECK_EQ(bulk.count(), 5L);

    suprsend::BulkResponse br = bulk.trigger();
    CHECK(static_cast<bool>(br));
    CHECK_EQ(br.status(), std::string("partial"));
    CHECK_EQ(br.result(), Status::validation);
    CHECK_EQ(br.total(), 5L);
    CHECK_EQ(br.success_count(), 3L);
    CHECK_EQ(br.failure_count(), 2L);
    CHECK_CONTAINS(br.failed_records_json(), "ss_reserved");
    CHECK_CONTAINS(br.failed_records_json(), "500"); // refused before sending: the official SDKs' code
    CHECK_EQ(shim_hub_stat("accepted"), 3L);
    CHECK_EQ(hub_event_string(2, "event"), std::string("cpp_bulk"));

    // Sent once: a second trigger throws, and its ec overload gives no response.
    CHECK_THROWS(Status::argument, bulk.trigger());
    suprsend::BulkResponse again = bulk.trigger(ec);
    CHECK_EQ(ec, Status::argument);
    CHECK(!again);
    CHECK_EQ(again.total(), 0L);
    CHECK_EQ(again.failed_records_json(), std::string("[]"));
    CHECK_THROWS(Status::argument, bulk.append(ev));

    // All accepted: result ok, status success, and the ec overload clears ec.
    suprsend::Bulk good(client);
    good.append(ev);
    good.append(ev);
    ec = Status::internal;
    br = good.trigger(ec);
    CHECK(!ec);
    CHECK_EQ(br.status(), std::string("success"));
    CHECK_EQ(br.result(), Status::ok);
    CHECK_EQ(br.failed_records_json(), std::string("[]"));
    CHECK_EQ(shim_hub_stat("accepted"), 5L);

    // A bulk refused by the hub: no exception, the response tells.
    suprsend::Bulk refused(client);
    refused.append(ev);
    hub_faults(R"({"script":[{"status":400}]})");
    br = refused.trigger();
    CHECK_EQ(br.result(), Status::http);
    CHECK_EQ(br.status(), std::string("fail"));
    CHECK_EQ(br.failure_count(), 1L);

    // A bulk needs a client.
    suprsend::Client none;
    CHECK_THROWS(Status::argument, suprsend::Bulk{none});
}

void test_background() {
    g_section = "background";
    hub_reset();
    FateLog log;
    suprsend::Options opts = hub_options();
    opts.set_delivery_callback(log.callback());
    suprsend::Client client(opts);
    const auto main_thread = std::this_thread::get_id();

    // The first request is refused (400): its event's fate is http.
    hub_faults(R"({"script":[{"status":400}]})");
    suprsend::Event ev("user_cpp_bg", "cpp_background");
    client.enqueue(ev);
    client.flush(10s);
    CHECK_EQ(log.size(), size_t(1));
    CHECK_EQ(log.count(Status::http), size_t(1));
    if (log.size() == 1) {
        CHECK_EQ(log.fates[0].http_status, 400);
        CHECK(!log.fates[0].delivered());
        CHECK(log.threads[0] != main_thread); // the worker thread
    }

    for (int i = 0; i < 3; i++) client.enqueue(ev);
    std::error_code ec = Status::internal;
    client.flush(10s, ec);
    CHECK(!ec);
    CHECK_EQ(log.size(), size_t(4));
    CHECK_EQ(log.count(Status::ok), size_t(3));
    {
        std::lock_guard<std::mutex> lock(log.mutex);
        for (size_t i = 1; i < log.fates.size(); i++) {
            const auto &f = log.fates[i];
            CHECK(f.delivered());
            CHECK(!f.message.empty());
            CHECK_EQ(f.insert_id.size(), size_t(36));
            CHECK_EQ(f.event_name, std::string("cpp_background"));
            CHECK_EQ(f.distinct_id, std::string("user_cpp_bg"));
            CHECK(!f.idempotency_key.empty()); // automatic: the insert id
            CHECK_EQ(f.attempts, 1);
            CHECK(log.threads[i] != main_thread);
        }
    }
    suprsend::Stats st = client.stats();
    CHECK_EQ(st.delivered, 3LL);
    CHECK_EQ(st.refused, 1LL);
    CHECK_EQ(st.queued, 0LL);
    CHECK_EQ(st.outbox_bytes, 0LL);
    CHECK_EQ(client.stat(suprsend::Stat::delivered), 3LL);
    CHECK_EQ(shim_hub_stat("accepted"), 3L);

    // An invalid event is refused at enqueue; nothing is queued.
    suprsend::Event reserved("user_cpp_bg", "$reserved");
    CHECK_THROWS(Status::validation, client.enqueue(reserved));
    client.enqueue(reserved, ec);
    CHECK_EQ(ec, Status::validation);

    // A flush deadline passes while the hub stalls: Status::timeout; then it completes.
    hub_faults(R"({"script":[{"delay_ms":1500}]})");
    client.enqueue(ev);
    CHECK_THROWS(Status::timeout, client.flush(50ms));
    client.flush(50ms, ec);
    CHECK_EQ(ec, Status::timeout);
    client.flush(); // no deadline
    CHECK_EQ(log.count(Status::ok), size_t(4));

    // Closing: the client keeps its handle; every later call fails with Status::closed, and
    // the counters still answer (the final ones). The destructor frees it.
    suprsend::Bulk late(client); // made before the close, triggered after it
    late.append(ev);
    client.close(5s);
    CHECK(static_cast<bool>(client));
    CHECK_THROWS(Status::closed, client.enqueue(ev));
    client.enqueue(ev, ec);
    CHECK_EQ(ec, Status::closed);
    CHECK_THROWS(Status::closed, client.track_event(ev));
    client.flush(1s, ec);
    CHECK_EQ(ec, Status::closed);
    suprsend::Stats final_stats = client.stats(ec);
    CHECK(!ec);
    CHECK_EQ(final_stats.delivered, 4LL);
    CHECK_EQ(final_stats.queued, 0LL);
    CHECK_EQ(final_stats.in_flight, 0LL);
    client.close(1s, ec);
    CHECK_EQ(ec, Status::closed);
    CHECK_THROWS(Status::closed, client.close(1s));
    CHECK_THROWS(Status::closed, late.trigger());
    CHECK_EQ(log.size(), size_t(5)); // nothing more was reported

    // Events still queued at close (a long flush interval, no deadline left): Status::closed,
    // reported before close returns.
    FateLog closing;
    suprsend::Options slow = hub_options();
    slow.set_flush_interval(1h).set_delivery_callback(closing.callback());
    suprsend::Client held(slow);
    held.enqueue(ev);
    held.enqueue(ev);
    held.close(0ms, ec);
    CHECK(static_cast<bool>(held)); // closed, not empty: freed by its destructor
    CHECK_EQ(closing.size(), size_t(2));
    CHECK_EQ(closing.count(Status::closed), size_t(2));
    CHECK_EQ(ec, Status::timeout);
}

void test_throwing_callbacks() {
    g_section = "throwing callbacks";
    hub_reset();
    std::mutex mutex;
    std::vector<std::string> lines;
    std::atomic<int> calls{0};
    suprsend::Options opts = hub_options();
    opts.set_log(suprsend::LogLevel::error, [&](suprsend::LogLevel level, std::string_view line) {
        std::lock_guard<std::mutex> lock(mutex);
        if (level >= suprsend::LogLevel::error) lines.emplace_back(line);
    });
    opts.set_delivery_callback([&](const suprsend::Delivery &d) {
        int n = ++calls;
        if (n == 1) throw std::runtime_error("boom for " + d.event_name);
        throw 42;
    });
    {
        suprsend::Client client(opts);
        suprsend::Event ev("user_cpp_throw", "cpp_throwing");
        client.enqueue(ev);
        client.flush(10s);
        client.enqueue(ev);
        client.flush(10s);
        CHECK_EQ(client.stat(suprsend::Stat::delivered), 2LL); // the worker went on
    }
    CHECK_EQ(calls.load(), 2);
    CHECK_EQ(shim_hub_stat("accepted"), 2L);
    {
        std::lock_guard<std::mutex> lock(mutex);
        CHECK_EQ(lines.size(), size_t(2));
        if (lines.size() == 2) {
            CHECK_EQ(lines[0], std::string("delivery callback threw: boom for cpp_throwing"));
            CHECK_CONTAINS(lines[1], "not a std::exception");
        }
    }

    // A logger that throws on every line: the library goes on, and the lines did come.
    std::atomic<int> log_calls{0};
    suprsend::Options noisy = hub_options();
    noisy.set_log(suprsend::LogLevel::debug, [&](suprsend::LogLevel, std::string_view line) {
        ++log_calls;
        throw std::runtime_error(std::string(line));
    });
    suprsend::Client client(noisy);
    suprsend::Event ev("user_cpp_throw", "cpp_logged");
    CHECK(client.track_event(ev).success());
    CHECK(log_calls.load() > 0);
}

void test_log_lines() {
    g_section = "log";
    hub_reset();
    std::vector<std::pair<suprsend::LogLevel, std::string>> lines;
    std::vector<std::thread::id> threads;
    std::mutex mutex;
    suprsend::Options opts = hub_options();
    opts.set_log(suprsend::LogLevel::debug, [&](suprsend::LogLevel level, std::string_view line) {
        std::lock_guard<std::mutex> lock(mutex);
        lines.emplace_back(level, std::string(line));
        threads.push_back(std::this_thread::get_id());
    });
    suprsend::Client client(opts);
    suprsend::Event ev("user_cpp_log", "cpp_logged");
    client.track_event(ev);
    std::lock_guard<std::mutex> lock(mutex);
    CHECK(!lines.empty());
    bool all_main = true, redacted = true;
    for (size_t i = 0; i < lines.size(); i++) {
        all_main = all_main && threads[i] == std::this_thread::get_id();
        if (lines[i].second.find(g_secret) != std::string::npos) redacted = false;
    }
    CHECK(all_main); // track_event logs on the calling thread
    CHECK(redacted);
    std::string all;
    for (const auto &l : lines) all += l.second + "\n";
    CHECK_CONTAINS(all, "v2/event");
}

void test_move_semantics() {
    g_section = "move";
    hub_reset();
    std::error_code ec;

    // Event
    suprsend::Event a("user_cpp_mv", "cpp_moved");
    suprsend::Event b = std::move(a);
    CHECK(!a);
    CHECK(static_cast<bool>(b));
    a.set_properties_json("{}", ec);
    CHECK_EQ(ec, Status::argument);
    CHECK_THROWS(Status::argument, a.add_attachment("https://example.com/a"));

    // Options and callbacks: the client owns a copy of the callable, so the options may go.
    // The callable holds a token: its use count tells how many copies of it are alive.
    FateLog fates;
    auto token = std::make_shared<int>(0);
    std::optional<suprsend::Client> first;
    {
        suprsend::Options opts = hub_options();
        opts.set_delivery_callback([record = fates.callback(), token](const suprsend::Delivery &d) { record(d); });
        suprsend::Options moved_opts = std::move(opts);
        first.emplace(moved_opts);
        CHECK(static_cast<bool>(*first));
        CHECK_EQ(token.use_count(), 3L); // here, in the options, in the client
    }
    CHECK_EQ(token.use_count(), 2L); // the options are gone; the client's copy lives on
    suprsend::Response r = first->track_event(a, ec);
    CHECK_EQ(ec, Status::argument); // a moved-from event
    CHECK(!r);
    r = first->track_event(b);
    CHECK(r.success());

    // Client: the moved-to one keeps working, callbacks included, after the moved-from one
    // is gone; the moved-from one is empty meanwhile.
    std::optional<suprsend::Client> second(std::move(*first));
    CHECK(!*first);
    CHECK(static_cast<bool>(*second));
    first->enqueue(b, ec);
    CHECK_EQ(ec, Status::argument);
    first->stats(ec);
    CHECK_EQ(ec, Status::argument);
    first->flush(1s, ec);
    CHECK_EQ(ec, Status::argument);
    CHECK_THROWS(Status::argument, first->track_event(b));
    first.reset();
    CHECK_EQ(token.use_count(), 2L);
    second->enqueue(b);
    second->flush(10s);
    CHECK_EQ(fates.count(Status::ok), size_t(1));

    // Move-assigning over a live client closes it first (its queued fates are reported).
    FateLog other_fates;
    suprsend::Options slow = hub_options();
    slow.set_flush_interval(1h).set_shutdown_timeout(0ms).set_delivery_callback(other_fates.callback());
    suprsend::Client third(slow);
    third.enqueue(b);
    third = std::move(*second);
    CHECK_EQ(other_fates.size(), size_t(1));
    CHECK_EQ(other_fates.count(Status::closed), size_t(1));
    CHECK(static_cast<bool>(third));
    second.reset();
    CHECK_EQ(token.use_count(), 2L);
    third.enqueue(b);
    third.flush(10s);
    CHECK_EQ(fates.count(Status::ok), size_t(2)); // the first callable, now in third

    // Response
    suprsend::Response moved_r = std::move(r);
    CHECK(!r);
    CHECK(moved_r.success());
    CHECK_EQ(r.status_code(), 0);
    CHECK(!r.success());
    CHECK_EQ(r.message(), std::string(""));
    CHECK_EQ(r.body(), std::string(""));

    // Bulk and BulkResponse (in a block: a bulk must not outlive its client)
    {
        suprsend::Bulk bulk(third);
        bulk.append(b);
        suprsend::Bulk bulk2 = std::move(bulk);
        CHECK(!bulk);
        CHECK_EQ(bulk.count(), 0L);
        bulk.append(b, ec);
        CHECK_EQ(ec, Status::argument);
        CHECK_THROWS(Status::argument, bulk.trigger());
        suprsend::BulkResponse br = bulk2.trigger();
        suprsend::BulkResponse br2 = std::move(br);
        CHECK(!br);
        CHECK_EQ(br.status(), std::string(""));
        CHECK_EQ(br.total(), 0L);
        CHECK_EQ(br2.status(), std::string("success"));
        CHECK_EQ(br2.total(), 1L);
    }

    // Moving an object into itself through a reference leaves it working.
    suprsend::Event &same = b;
    b = std::move(same);
    CHECK(static_cast<bool>(b));
    CHECK(third.track_event(b).success());
    third.close(5s);
    CHECK_EQ(token.use_count(), 2L); // a closed client keeps its callables until it is freed
    third = suprsend::Client();
    CHECK_EQ(token.use_count(), 1L); // freeing it let the callable go
}

} // namespace

int main(int argc, char **argv) {
    g_verbose = std::getenv("SUPRSEND_TEST_VERBOSE") && std::string(std::getenv("SUPRSEND_TEST_VERBOSE")) == "1";
    if (argc < 4) {
        std::cerr << "usage: " << argv[0] << " BASE_URL KEY SECRET" << std::endl;
        return 2;
    }
    g_url = argv[1];
    g_key = argv[2];
    g_secret = argv[3];
    if (!shim_hub_init(g_url.c_str()) || shim_hub_stat("requests") < 0) {
        std::cerr << "no hub answers at " << g_url << std::endl;
        return 2;
    }
    const char *tmp = std::getenv("TMPDIR");
    std::string dir_pattern = std::string(tmp && *tmp ? tmp : "/tmp") + "/suprsend-cpptest.XXXXXX";
    std::vector<char> dir_buf(dir_pattern.begin(), dir_pattern.end());
    dir_buf.push_back('\0');
    if (!mkdtemp(dir_buf.data())) {
        std::perror("mkdtemp");
        return 2;
    }
    const std::string dir = dir_buf.data();

    try {
        test_status_and_version();
        test_options();
        test_track_accepted();
        test_track_refused();
        test_validation();
        test_attachments(dir);
        test_bulk();
        test_background();
        test_throwing_callbacks();
        test_log_lines();
        test_move_semantics();
    } catch (const std::exception &e) {
        record(false, __FILE__, __LINE__, std::string("unexpected exception: ") + e.what());
    }
    std::remove((dir + "/note.txt").c_str());
    rmdir(dir.c_str());
    std::cout << g_passed << " passed, " << g_failed << " failed" << std::endl;
    return g_failed == 0 ? 0 : 1;
}

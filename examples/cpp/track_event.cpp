/*
 * track_event.cpp: the C++ header (suprsend.hpp): send one event and print the hub's answer,
 * then queue two more for background delivery and print their fates.
 *
 * Build:  c++ -std=c++17 track_event.cpp $(pkg-config --cflags --libs suprsend) -o track_event
 *         (or: make, beside this file)
 * Run:    SUPRSEND_WORKSPACE_KEY=... SUPRSEND_WORKSPACE_SECRET=... ./track_event
 *         (SUPRSEND_BASE_URL=http://127.0.0.1:PORT/ sends to a local hub instead of SuprSend's;
 *          without a key and secret, the local hub's demo workspace demo_key/demo_secret is used)
 */
#include <suprsend.hpp>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <string>

namespace {

std::string env_or(const char *name, const char *fallback) {
    const char *value = std::getenv(name);
    return value && *value ? value : fallback;
}

} // namespace

int main() {
    using namespace std::chrono_literals;
    std::cout << "libsuprsend " << suprsend::version() << " (suprsend.hpp)" << std::endl;
    try {
        suprsend::Options options(env_or("SUPRSEND_WORKSPACE_KEY", "demo_key"),
                                  env_or("SUPRSEND_WORKSPACE_SECRET", "demo_secret"));
        if (std::string base_url = env_or("SUPRSEND_BASE_URL", ""); !base_url.empty())
            options.set_base_url(base_url); // unset: https://hub.suprsend.com/

        // Fates of queued events arrive on the client's worker thread.
        std::mutex print_mutex;
        options.set_delivery_callback([&print_mutex](const suprsend::Delivery &d) {
            std::lock_guard<std::mutex> lock(print_mutex);
            std::cout << "fate of " << d.event_name << " " << d.insert_id << ": "
                      << (d.delivered() ? "delivered, " : suprsend::status_name(d.status) + ", ") << d.message
                      << std::endl;
        });
        suprsend::Client client(options); // copies the options and owns the callback

        // The event of SuprSend's "Send and Track Events" page.
        suprsend::Event event("0fxxx8f74-xxxx-41c5-8752-xxxcb6911fb08", "product_purchased");
        event.set_properties_json(R"({
            "first_name": "User",
            "spend_amount": "$10",
            "nested_key_example": {"nested_key1": "some_value_1", "nested_key2": {"nested_key3": "some_value_3"}}
        })");

        // Send it and wait for the answer; a refusal throws suprsend::Error.
        suprsend::Response response = client.track_event(event);
        std::cout << "success:     " << response.success() << "\n"
                  << "status code: " << response.status_code() << "\n"
                  << "message:     " << response.message() << "\n"
                  << "body:        " << response.body() << std::endl;

        // The same event twice more, in the background: enqueue never waits on the network.
        // Here without exceptions: the std::error_code overloads.
        std::error_code ec;
        for (int i = 0; i < 2 && !ec; i++) client.enqueue(event, ec);
        if (!ec) client.flush(10s, ec);
        if (ec) {
            std::cerr << "background delivery: " << ec.message() << ": " << suprsend::last_error() << std::endl;
            return 1;
        }
        client.close(5s); // what is left gets 5 s (without close, the destructor gives shutdown_timeout); the destructor frees it
    } catch (const suprsend::Error &e) {
        std::cerr << "failed: " << e.what();
        if (e.http_status()) std::cerr << " (HTTP " << e.http_status() << ")";
        std::cerr << std::endl;
        return 1;
    }
    return 0;
}

// The Go code of SuprSend's "Send and Track Events" page (shared/seeds/send-and-track-events.md),
// as one program over libsuprsend. Each snippet is kept as the page writes it, in its own block,
// with only its syntax slips fixed (each marked "fixed:"): trailing commas the page leaves out
// after a composite literal's last element, the IdempotencyKey that the page writes inside the
// Properties map (it is a field of the Event), and the "{...}" placeholder of a Properties map.
//
// The one import line that differs from suprsend-go's: "libsuprsend/suprsend" instead of
// "github.com/suprsend/suprsend-go".
//
// It sends to SUPRSEND_BASE_URL (default: SuprSend's hub) as the workspace
// SUPRSEND_WORKSPACE_KEY / SUPRSEND_WORKSPACE_SECRET; `make demo` runs it against the local hub.
package main

import (
	"log"
	"os"

	suprsend "libsuprsend/suprsend"
)

func main() {
	// The page's prerequisite: a client (suprClient) and an err variable.
	opts := []suprsend.ClientOption{}
	if url := os.Getenv("SUPRSEND_BASE_URL"); url != "" {
		opts = append(opts, suprsend.WithBaseUrl(url))
	}
	suprClient, err := suprsend.NewClient(os.Getenv("SUPRSEND_WORKSPACE_KEY"), os.Getenv("SUPRSEND_WORKSPACE_SECRET"), opts...)
	if err != nil {
		log.Fatalln(err)
	}

	// "Send Event", Request.
	ev := &suprsend.Event{
		EventName:  "__event_name__",
		DistinctId: "_distinct_id_",
		Properties: map[string]interface{}{
			"k1": "v1",
		},
		IdempotencyKey: "_unique_request_id_", // fixed: the missing comma
	}

	// Send event to Suprsend by calling .TrackEvent
	_, err = suprClient.TrackEvent(ev)
	if err != nil {
		log.Fatalln(err)
	}
	log.Println("sent __event_name__")

	// "Send Event", Sample Code.
	{
		ev := &suprsend.Event{
			EventName:  "product_purchased",                      // Mandatory, name of the event you're tracking
			DistinctId: "0fxxx8f74-xxxx-41c5-8752-xxxcb6911fb08", // Mandatory, Unique id of user in your application
			Properties: map[string]interface{}{
				"first_name":   "User",
				"spend_amount": "$10",
				"nested_key_example": map[string]interface{}{
					"nested_key1": "some_value_1",
					"nested_key2": map[string]interface{}{
						"nested_key3": "some_value_3",
					},
				},
			}, // fixed: the page closes the Event here, with IdempotencyKey inside the Properties map
			IdempotencyKey: "abcd-1234-abc6",
		}

		// Send event to Suprsend by calling .TrackEvent
		_, err = suprClient.TrackEvent(ev)
		if err != nil {
			log.Fatalln(err)
		}
		log.Println("sent product_purchased")
	}

	// "Add file attachment in event (for email)", Request.
	{
		ev := &suprsend.Event{
			EventName:  "invoice_generated",
			DistinctId: "0fxxx8f74-xxxx-41c5-8752-xxxcb6911fb08",
			Properties: map[string]interface{}{"invoice_id": "inv_1"}, // fixed: the page's {...} placeholder, and the missing comma
		}

		// Add attachment (If needed) by calling .AddAttachment
		err = ev.AddAttachment("https://www.adobe.com/sample_file.pdf")
		if err != nil {
			log.Println(err)
		}

		// Send event to Suprsend by calling .TrackEvent
		_, err = suprClient.TrackEvent(ev)
		if err != nil {
			log.Fatalln(err)
		}
		log.Println("sent invoice_generated with an attachment (a URL the hub would download)")
	}

	// "Bulk API for multiple event requests", Request.
	{
		ev1 := &suprsend.Event{
			EventName:  "__event_name1__",
			DistinctId: "__distinct_id1__",
			Properties: map[string]interface{}{
				"k1": "v1",
			}, // fixed: the missing comma
		}

		ev2 := &suprsend.Event{
			EventName:  "__event_name2__",
			DistinctId: "__distinct_id2__", // fixed: the missing comma
		}

		// Create bulkEvents instance
		bulkIns := suprClient.BulkEvents.NewInstance()

		// Add all events to bulk Instance
		bulkIns.Append(ev1, ev2)

		// call trigger to send all these events to SuprSend
		bulkResponse, err := bulkIns.Trigger()
		if err != nil {
			log.Fatalln(err)
		}
		log.Println(bulkResponse)
	}

	// "Bulk API for multiple event requests", With Email attachment. As on the page, the
	// attachments go to ev (the event of the first snippet), not to ev1 and ev2.
	{
		ev1 := &suprsend.Event{
			EventName:  "__event_name1__",
			DistinctId: "__distinct_id1__",
			Properties: map[string]interface{}{
				"k1": "v1",
			}, // fixed: the missing comma
		}

		//Add Email Attachment to event 1
		err = ev.AddAttachment("https://file_path_1.pdf")
		if err != nil {
			log.Println(err)
		}

		ev2 := &suprsend.Event{
			EventName:  "__event_name2__",
			DistinctId: "__distinct_id2__", // fixed: the missing comma
		}

		//Add Email Attachment to event 2
		err = ev.AddAttachment("https://file_path_2.pdf")
		if err != nil {
			log.Println(err)
		}

		// Create bulkEvents instance
		bulkIns := suprClient.BulkEvents.NewInstance()

		// Add all events to bulk Instance
		bulkIns.Append(ev1, ev2)

		// call trigger to send all these events to SuprSend
		bulkResponse, err := bulkIns.Trigger()
		if err != nil {
			log.Fatalln(err)
		}
		log.Println(bulkResponse)
	}
}

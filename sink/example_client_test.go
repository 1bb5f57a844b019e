package sink_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net/http/httptest"
	"time"

	"github.com/backfillhq/backfill/sink"
)

func ExampleNewClient() {
	c, err := sink.NewClient(sink.ClientConfig{
		WriteKey: "YOUR_WRITE_KEY",
		Stub:     true, // sends nothing; leave it out to send to Segment
		OnError:  func(err error) { log.Print(err) },
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close() // sends what is still queued

	if err := c.Enqueue(sink.Track{
		UserID:     "019mr8mf4r",
		Event:      "Item Purchased",
		Properties: map[string]any{"revenue": 39.95},
	}); err != nil {
		log.Print(err)
	}
	if err := c.Flush(context.Background()); err != nil {
		log.Print(err)
	}
	fmt.Println(c.Stats().Delivered, "delivered")
	// Output: 1 delivered
}

func ExampleClient_Enqueue() {
	// A stand-in for Segment on 127.0.0.1, writing what it accepts to out.
	var out bytes.Buffer
	srv := httptest.NewServer(sink.NewReceiver(sink.ReceiverConfig{WriteKey: "YOUR_WRITE_KEY", Out: &out}))
	defer srv.Close()

	c, err := sink.NewClient(sink.ClientConfig{WriteKey: "YOUR_WRITE_KEY", Endpoint: srv.URL})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	at := time.Date(2024, 5, 1, 9, 30, 0, 0, time.UTC)
	for _, m := range []sink.Messager{
		sink.Identify{UserID: "019mr8mf4r", Traits: map[string]any{"plan": "pro"}, Timestamp: at},
		sink.Track{UserID: "019mr8mf4r", Event: "Item Purchased", Properties: map[string]any{"revenue": 39.95}, Timestamp: at},
		sink.Track{UserID: "019mr8mf4r"}, // no event: refused at once
	} {
		if err := c.Enqueue(m); err != nil {
			var invalid *sink.ValidationError
			if errors.As(err, &invalid) {
				fmt.Println("invalid:", invalid)
			}
		}
	}
	if err := c.Flush(context.Background()); err != nil {
		log.Fatal(err)
	}

	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		var m struct {
			Type, UserID, Event, Timestamp string
		}
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			log.Fatal(err)
		}
		fmt.Println(m.Type, m.UserID, m.Event, m.Timestamp)
	}
	// Output:
	// invalid: event: a track needs an event name
	// identify 019mr8mf4r  2024-05-01T09:30:00.000Z
	// track 019mr8mf4r Item Purchased 2024-05-01T09:30:00.000Z
}

func ExampleDeliveryError() {
	// A server that knows another write key.
	srv := httptest.NewServer(sink.NewReceiver(sink.ReceiverConfig{WriteKey: "ANOTHER_KEY"}))
	defer srv.Close()

	c, err := sink.NewClient(sink.ClientConfig{
		WriteKey: "YOUR_WRITE_KEY",
		Endpoint: srv.URL,
		Logger:   slog.New(slog.DiscardHandler), // the default, slog.Default(), logs the failure
		OnError: func(err error) {
			var failed *sink.DeliveryError
			if errors.As(err, &failed) {
				fmt.Printf("%d messages not delivered, http %d\n", len(failed.MessageIDs), failed.Status)
			}
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	for _, user := range []string{"u1", "u2", "u3"} {
		if err := c.Enqueue(sink.Page{UserID: user, Name: "Pricing"}); err != nil {
			log.Fatal(err)
		}
	}
	// Close returns the first failure: nil only if everything was delivered.
	err = c.Close()
	fmt.Println("write key refused:", errors.Is(err, sink.ErrUnauthorized))
	// Output:
	// 3 messages not delivered, http 401
	// write key refused: true
}

func ExampleDelivery() {
	delivered := 0
	c, err := sink.NewClient(sink.ClientConfig{
		Stub: true, // sends nothing; leave it out to send to Segment
		OnSuccess: func(d sink.Delivery) {
			delivered += len(d.MessageIDs) // one call at a time: no lock needed
		},
		OnError: func(err error) { log.Print(err) },
	})
	if err != nil {
		log.Fatal(err)
	}
	for i := range 250 {
		if err := c.Enqueue(sink.Track{UserID: fmt.Sprint("u", i), Event: "Signed Up"}); err != nil {
			log.Fatal(err)
		}
	}
	if err := c.Close(); err != nil {
		log.Fatal(err)
	}
	fmt.Println(delivered, "acknowledged")
	// Output: 250 acknowledged
}

package client_test

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
	"os"
	"time"

	"github.com/backfillhq/backfill/sink"
	"github.com/backfillhq/backfill/sink/client"
	"github.com/backfillhq/backfill/sink/receiver"
)

// ExampleClient is the snippet of the README's "Using it from Go".
func ExampleClient() {
	ctx := context.Background()
	c, err := client.New(client.Config{
		WriteKey:  os.Getenv("SEGMENT_WRITE_KEY"),
		OnError:   func(err error) { log.Print(err) }, // a *client.DeliveryError: status, messages, cause
		OnSuccess: func(d client.Delivery) { /* d.MessageIDs were acknowledged */ },
		Logger:    slog.Default(), // the default: retries (Debug), drops and failures
	})
	if err != nil {
		log.Fatal(err)
	}
	defer func() {
		// Close sends what is still queued, for up to CloseTimeout (10s), and
		// returns the first delivery error: nil only if everything was delivered.
		if err := c.Close(); errors.Is(err, sink.ErrUnauthorized) {
			log.Print("the write key was refused: ", err)
		}
	}()

	err = c.Enqueue(client.Track{
		UserID:     "019mr8mf4r",
		Event:      "Item Purchased",
		Properties: map[string]any{"revenue": 39.95},
	})
	// err is a *sink.ValidationError for an invalid message, client.ErrQueueFull
	// when MaxQueueSize (10,000) messages wait, client.ErrClosed after Close.

	err = c.Flush(ctx) // blocks until everything queued so far is acknowledged
	_ = err
}

func ExampleNew() {
	c, err := client.New(client.Config{
		WriteKey: "YOUR_WRITE_KEY",
		Stub:     true, // sends nothing; leave it out to send to Segment
		OnError:  func(err error) { log.Print(err) },
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close() // sends what is still queued

	if err := c.Enqueue(client.Track{
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
	srv := httptest.NewServer(receiver.New(receiver.Config{WriteKey: "YOUR_WRITE_KEY", Out: &out}))
	defer srv.Close()

	c, err := client.New(client.Config{WriteKey: "YOUR_WRITE_KEY", Endpoint: srv.URL})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	at := time.Date(2024, 5, 1, 9, 30, 0, 0, time.UTC)
	for _, m := range []client.Messager{
		client.Identify{UserID: "019mr8mf4r", Traits: map[string]any{"plan": "pro"}, Timestamp: at},
		client.Track{UserID: "019mr8mf4r", Event: "Item Purchased", Properties: map[string]any{"revenue": 39.95}, Timestamp: at},
		client.Track{UserID: "019mr8mf4r"}, // no event: refused at once
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
	srv := httptest.NewServer(receiver.New(receiver.Config{WriteKey: "ANOTHER_KEY"}))
	defer srv.Close()

	c, err := client.New(client.Config{
		WriteKey: "YOUR_WRITE_KEY",
		Endpoint: srv.URL,
		Logger:   slog.New(slog.DiscardHandler), // the default, slog.Default(), logs the failure
		OnError: func(err error) {
			var failed *client.DeliveryError
			if errors.As(err, &failed) {
				fmt.Printf("%d messages not delivered, http %d\n", len(failed.MessageIDs), failed.Status)
			}
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	for _, user := range []string{"u1", "u2", "u3"} {
		if err := c.Enqueue(client.Page{UserID: user, Name: "Pricing"}); err != nil {
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
	c, err := client.New(client.Config{
		Stub: true, // sends nothing; leave it out to send to Segment
		OnSuccess: func(d client.Delivery) {
			delivered += len(d.MessageIDs) // one call at a time: no lock needed
		},
		OnError: func(err error) { log.Print(err) },
	})
	if err != nil {
		log.Fatal(err)
	}
	for i := range 250 {
		if err := c.Enqueue(client.Track{UserID: fmt.Sprint("u", i), Event: "Signed Up"}); err != nil {
			log.Fatal(err)
		}
	}
	if err := c.Close(); err != nil {
		log.Fatal(err)
	}
	fmt.Println(delivered, "acknowledged")
	// Output: 250 acknowledged
}

package client

import (
	"time"

	"github.com/backfillhq/backfill/sink"
)

// Messager is a message a Client can send: Identify, Track, Page, Screen,
// Group, Alias, or a *Message. Message returns it as a Message; the Client
// copies the result before filling in a missing messageId or timestamp, so
// the value given to Enqueue is never modified.
type Messager interface {
	Message() *sink.Message
}

var (
	_ Messager = Identify{}
	_ Messager = Track{}
	_ Messager = Page{}
	_ Messager = Screen{}
	_ Messager = Group{}
	_ Messager = Alias{}
	_ Messager = (*sink.Message)(nil)
)

// Identify ties a user to their traits. It needs UserID or AnonymousID.
//
// MessageID and Timestamp may be left empty: a Client fills in a random
// messageId and the time of Enqueue. Context and Integrations are sent as
// they are; context gets the "library" of this package unless it has one.
type Identify struct {
	MessageID    string
	Timestamp    time.Time
	UserID       string
	AnonymousID  string
	Traits       map[string]any
	Context      map[string]any
	Integrations map[string]any
}

// Message returns the identify as a Message.
func (m Identify) Message() *sink.Message {
	return &sink.Message{
		Type: sink.TypeIdentify, MessageID: m.MessageID, Timestamp: m.Timestamp,
		UserID: m.UserID, AnonymousID: m.AnonymousID,
		Traits: object(m.Traits), Context: object(m.Context), Integrations: object(m.Integrations),
	}
}

// Track records an action a user performed, named by Event. It needs Event
// and UserID or AnonymousID. Empty MessageID and Timestamp are filled in as
// for Identify.
type Track struct {
	MessageID    string
	Timestamp    time.Time
	UserID       string
	AnonymousID  string
	Event        string
	Properties   map[string]any
	Context      map[string]any
	Integrations map[string]any
}

// Message returns the track as a Message.
func (m Track) Message() *sink.Message {
	return &sink.Message{
		Type: sink.TypeTrack, MessageID: m.MessageID, Timestamp: m.Timestamp,
		UserID: m.UserID, AnonymousID: m.AnonymousID, Event: m.Event,
		Properties: object(m.Properties), Context: object(m.Context), Integrations: object(m.Integrations),
	}
}

// Page records a web page view. It needs UserID or AnonymousID. Empty
// MessageID and Timestamp are filled in as for Identify.
type Page struct {
	MessageID    string
	Timestamp    time.Time
	UserID       string
	AnonymousID  string
	Name         string
	Category     string
	Properties   map[string]any
	Context      map[string]any
	Integrations map[string]any
}

// Message returns the page as a Message.
func (m Page) Message() *sink.Message {
	return &sink.Message{
		Type: sink.TypePage, MessageID: m.MessageID, Timestamp: m.Timestamp,
		UserID: m.UserID, AnonymousID: m.AnonymousID, Name: m.Name, Category: m.Category,
		Properties: object(m.Properties), Context: object(m.Context), Integrations: object(m.Integrations),
	}
}

// Screen records a mobile app screen view. It needs UserID or AnonymousID.
// Empty MessageID and Timestamp are filled in as for Identify.
type Screen struct {
	MessageID    string
	Timestamp    time.Time
	UserID       string
	AnonymousID  string
	Name         string
	Properties   map[string]any
	Context      map[string]any
	Integrations map[string]any
}

// Message returns the screen as a Message.
func (m Screen) Message() *sink.Message {
	return &sink.Message{
		Type: sink.TypeScreen, MessageID: m.MessageID, Timestamp: m.Timestamp,
		UserID: m.UserID, AnonymousID: m.AnonymousID, Name: m.Name,
		Properties: object(m.Properties), Context: object(m.Context), Integrations: object(m.Integrations),
	}
}

// Group ties a user to a group, such as a company, with the group's traits.
// It needs GroupID and UserID or AnonymousID. Empty MessageID and Timestamp
// are filled in as for Identify.
type Group struct {
	MessageID    string
	Timestamp    time.Time
	UserID       string
	AnonymousID  string
	GroupID      string
	Traits       map[string]any
	Context      map[string]any
	Integrations map[string]any
}

// Message returns the group as a Message.
func (m Group) Message() *sink.Message {
	return &sink.Message{
		Type: sink.TypeGroup, MessageID: m.MessageID, Timestamp: m.Timestamp,
		UserID: m.UserID, AnonymousID: m.AnonymousID, GroupID: m.GroupID,
		Traits: object(m.Traits), Context: object(m.Context), Integrations: object(m.Integrations),
	}
}

// Alias merges two identities: PreviousID, the old one, becomes UserID.
// It needs both. Empty MessageID and Timestamp are filled in as for
// Identify.
type Alias struct {
	MessageID    string
	Timestamp    time.Time
	UserID       string
	PreviousID   string
	Context      map[string]any
	Integrations map[string]any
}

// Message returns the alias as a Message.
func (m Alias) Message() *sink.Message {
	return &sink.Message{
		Type: sink.TypeAlias, MessageID: m.MessageID, Timestamp: m.Timestamp,
		UserID: m.UserID, PreviousID: m.PreviousID,
		Context: object(m.Context), Integrations: object(m.Integrations),
	}
}

// object returns m as an object field of a Message, nil when m is nil.
func object(m map[string]any) any {
	if m == nil {
		return nil
	}
	return m
}

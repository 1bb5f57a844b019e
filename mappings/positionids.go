package mappings

// PositionIDs reports whether the spec derives messageIds from the rows'
// positions (messageId: {derive: position}): from their files and their
// ordinals in them, which a reader that starts in the middle of a file
// does not know.
func (s *Spec) PositionIDs() bool { return s.ids.position }

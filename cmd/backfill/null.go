package main

import (
	"fmt"
	"strings"
)

// nullTokens turns --null and --no-null into readers.Options.Null: the
// CSV cells that mean no value. The empty cell is one unless --no-null;
// --null adds its comma-separated tokens. Nil is the readers' default,
// the empty cell alone.
func nullTokens(tokens string, set, noNull bool) ([]string, error) {
	if !set && !noNull {
		return nil, nil
	}
	null := []string{""}
	if noNull {
		null = []string{}
	}
	if !set {
		return null, nil
	}
	for _, tok := range strings.Split(tokens, ",") {
		if tok == "" {
			return nil, fmt.Errorf("--null %q: an empty token; the empty cell means no value already (--no-null makes it an empty string)", tokens)
		}
		null = append(null, tok)
	}
	return null, nil
}

package structs

import (
	"fmt"
	"strconv"
	"unicode/utf8"
)

// MaxQuotedBytes is how much of a user-supplied value an error message
// quotes; the rest is replaced by its size.
const MaxQuotedBytes = 128

// Quote returns s quoted as %q does, cut to its first MaxQuotedBytes bytes
// (at a character boundary) with "…(N bytes)" appended when it is longer,
// so that an error about a huge value stays small. Every message that
// quotes user input uses it.
func Quote(s string) string {
	if len(s) <= MaxQuotedBytes {
		return strconv.Quote(s)
	}
	cut := MaxQuotedBytes
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s…(%d bytes)", strconv.Quote(s[:cut]), len(s))
}

// clipErr is an error's message bounded like Quote bounds a value, for
// errors (such as a regexp's or a URL's) that repeat the input they
// refuse.
func clipErr(err error) string {
	const maxErrBytes = 2 * MaxQuotedBytes
	msg := err.Error()
	if len(msg) <= maxErrBytes {
		return msg
	}
	cut := maxErrBytes
	for cut > 0 && !utf8.RuneStart(msg[cut]) {
		cut--
	}
	return fmt.Sprintf("%s…(%d bytes)", msg[:cut], len(msg))
}

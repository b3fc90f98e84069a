package structs

import (
	"fmt"
	"strconv"
	"unicode/utf8"
)

// maxQuotedInput bounds how much of a caller's input an error quotes.
const maxQuotedInput = 64

// QuoteInput quotes a value that came from a caller for an error message,
// keeping at most a short prefix of it, so an error never echoes a huge
// input back.
func QuoteInput(s string) string {
	if len(s) <= maxQuotedInput {
		return strconv.Quote(s)
	}
	cut := maxQuotedInput
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s…(%d bytes)", strconv.Quote(s[:cut]), len(s))
}

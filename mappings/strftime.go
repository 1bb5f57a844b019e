package mappings

import (
	"fmt"
	"strings"
)

// strftimeElements maps the supported strftime directives to Go layout
// elements: the fixed-width element, used where the directive touches
// another one (only the widths can tell them apart there), and the lenient
// one that also reads a number without its leading zero or blank, as C's
// and Python's strptime do.
var strftimeElements = map[byte][2]string{
	'Y': {"2006", "2006"},
	'y': {"06", "06"},
	'm': {"01", "1"},
	'd': {"02", "2"},
	'e': {"_2", "_2"},
	'j': {"002", "__2"},
	'H': {"15", "15"},
	'I': {"03", "3"},
	'M': {"04", "4"},
	'S': {"05", "5"},
	'p': {"PM", "PM"},
	'b': {"Jan", "Jan"},
	'h': {"Jan", "Jan"},
	'B': {"January", "January"},
	'a': {"Mon", "Mon"},
	'A': {"Monday", "Monday"},
	'z': {"Z0700", "Z0700"},
	'Z': {"MST", "MST"},
}

// strftimeShorthands are directives that stand for others.
var strftimeShorthands = map[byte]string{
	'T': "%H:%M:%S",
	'F': "%Y-%m-%d",
	'D': "%m/%d/%y",
	'R': "%H:%M",
}

const strftimeHelp = "%Y %y %m %d %e %j %H %I %M %S %f %p %b %h %B %a %A %z %Z %T %F %D %R %%"

// goTokens are Go layout elements that literal text of a strftime format
// must not contain, or Go would read them as elements.
var goTokens = []string{"Jan", "Mon", "MST", "PM", "pm"}

// strftimePiece is literal text or a directive of a strftime format.
type strftimePiece struct {
	text string // literal text; empty for a directive
	dir  byte
}

// strftimeLayouts translates a strftime format into the Go layouts that
// read it (several when %z or %p have two spellings) and says which zone
// they hold. Unsupported directives are errors that name them.
func strftimeLayouts(format string) ([]string, int, error) {
	expanded, err := expandShorthands(format)
	if err != nil {
		return nil, 0, err
	}
	var pieces []strftimePiece
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			pieces = append(pieces, strftimePiece{text: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(expanded); i++ {
		c := expanded[i]
		if c != '%' {
			lit.WriteByte(c)
			continue
		}
		i++
		if i < len(expanded) && expanded[i] == '-' {
			// GNU's "no padding" flag: the lenient elements read
			// numbers without padding anyway.
			i++
		}
		if i >= len(expanded) {
			return nil, 0, fmt.Errorf("format %q ends with a lone %%", format)
		}
		d := expanded[i]
		switch {
		case d == '%':
			lit.WriteByte('%')
			continue
		case d == 'f':
			flush()
			pieces = append(pieces, strftimePiece{dir: 'f'})
			continue
		case d == 's':
			return nil, 0, fmt.Errorf("format %q: %%s (seconds since the epoch) is a format of its own: use format: unix", format)
		}
		if _, ok := strftimeElements[d]; !ok {
			return nil, 0, fmt.Errorf("format %q: directive %%%c is not supported (supported: %s)", format, d, strftimeHelp)
		}
		flush()
		pieces = append(pieces, strftimePiece{dir: d})
	}
	flush()

	hasYear, zone := false, zoneNone
	var b strings.Builder
	var alternates []byte // the directives with two spellings, in order
	for k, p := range pieces {
		if p.dir == 0 {
			if err := checkLiteral(format, p.text); err != nil {
				return nil, 0, err
			}
			if k+1 < len(pieces) && pieces[k+1].dir == 'f' {
				continue // written with the fraction
			}
			b.WriteString(p.text)
			continue
		}
		switch p.dir {
		case 'f':
			if k == 0 || pieces[k-1].dir != 0 {
				return nil, 0, fmt.Errorf("format %q: %%f must follow a \".\" or \",\"", format)
			}
			prev := pieces[k-1].text
			sep := prev[len(prev)-1]
			if sep != '.' && sep != ',' {
				return nil, 0, fmt.Errorf("format %q: %%f must follow a \".\" or \",\"", format)
			}
			b.WriteString(prev[:len(prev)-1])
			b.WriteByte(sep)
			b.WriteString("999999999")
			continue
		case 'Y', 'y':
			hasYear = true
		case 'z':
			zone = zoneNumeric
			alternates = append(alternates, 'z')
		case 'Z':
			if zone == zoneNone {
				zone = zoneAbbrev
			}
		case 'p':
			alternates = append(alternates, 'p')
		}
		touches := (k > 0 && pieces[k-1].dir != 0) || (k+1 < len(pieces) && pieces[k+1].dir != 0 && pieces[k+1].dir != 'f')
		el := strftimeElements[p.dir]
		if touches {
			b.WriteString(el[0])
		} else {
			b.WriteString(el[1])
		}
	}
	if !hasYear {
		return nil, 0, fmt.Errorf("format %q has no year (%%Y, %%y, %%F or %%D)", format)
	}
	layout := b.String()
	if err := checkLayout(layout, format); err != nil {
		return nil, 0, err
	}
	layouts := []string{layout}
	for _, d := range alternates {
		from, to := "PM", "pm"
		if d == 'z' {
			from, to = "Z0700", "Z07:00"
		}
		n := len(layouts)
		for _, l := range layouts[:n] {
			layouts = append(layouts, strings.Replace(l, from, to, 1))
		}
	}
	return layouts, zone, nil
}

// expandShorthands replaces %T, %F, %D and %R by what they stand for.
func expandShorthands(format string) (string, error) {
	if !strings.ContainsAny(format, "TFDR") {
		return format, nil
	}
	var b strings.Builder
	for i := 0; i < len(format); i++ {
		if format[i] != '%' || i+1 >= len(format) {
			b.WriteByte(format[i])
			continue
		}
		if s, ok := strftimeShorthands[format[i+1]]; ok {
			b.WriteString(s)
		} else {
			b.WriteByte('%')
			b.WriteByte(format[i+1])
		}
		i++
	}
	return b.String(), nil
}

// checkLiteral refuses literal text that a Go layout would read as an
// element: digits, "_", and the names of months, days, zones and AM/PM.
func checkLiteral(format, text string) error {
	if i := strings.IndexAny(text, "0123456789_"); i >= 0 {
		return fmt.Errorf("format %q: literal %q cannot be part of a format (only directives may stand for digits)", format, text[i:i+1])
	}
	for _, tok := range goTokens {
		if strings.Contains(text, tok) {
			return fmt.Errorf("format %q: literal text %q cannot be part of a format", format, tok)
		}
	}
	return nil
}

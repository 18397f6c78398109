package naming

import (
	"strings"
	"unicode"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// Skeleton is what a name looks like, for comparing names a person could
// not tell apart: two names with the same skeleton are treated as the same
// name. It is the name in Unicode compatibility form (NFKC: full-width and
// styled letters become plain ones), case-folded, without marks and
// invisible characters, with look-alike letters from other scripts (Cyrillic
// "а", Greek "ο"…) and digits mapped to the Latin letter they imitate, and
// "rn"/"vv" read as "m"/"w". It follows the idea of Unicode's confusable
// skeleton (UTS #39) with a small table of the common look-alikes rather
// than the full data file: it errs towards calling names alike, which at
// worst gives a newcomer a suffixed name.
func Skeleton(name string) string {
	s := norm.NFKC.String(name)
	s = cases.Fold().String(s)
	// Marks go after decomposition: "é" and "e" look alike enough.
	s = norm.NFD.String(s)
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		switch {
		case unicode.Is(unicode.Mn, r), unicode.Is(unicode.Me, r), invisible(r):
			continue
		}
		if m, ok := confusables[r]; ok {
			r = m
		}
		b.WriteRune(r)
	}
	s = b.String()
	s = strings.ReplaceAll(s, "rn", "m")
	s = strings.ReplaceAll(s, "vv", "w")
	return s
}

// invisible reports characters that show nothing: format characters
// (zero-width spaces and joiners, bidirectional controls, the byte-order
// mark), variation selectors, and the soft hyphen.
func invisible(r rune) bool {
	return unicode.Is(unicode.Cf, r) || unicode.Is(unicode.Variation_Selector, r) || r == '\u034f' || r == '\u115f' || r == '\u1160' || r == '\u3164'
}

// confusables maps characters (after NFKC and case folding) to the Latin
// letter or ASCII sign they are mistaken for. "i", "1" and "l" are one
// letter here: a capital "I" folds to "i" and imitates "l".
var confusables = map[rune]rune{
	// Latin look-alikes and digits.
	'0': 'o', '1': 'l', 'i': 'l', '|': 'l', 'ı': 'l', 'ɩ': 'l', 'ǀ': 'l', 'ʟ': 'l', 'ł': 'l',
	'ȷ': 'j', 'ɑ': 'a', 'ɡ': 'g', 'ɴ': 'n', 'ᴏ': 'o', 'ø': 'o', 'đ': 'd', 'ħ': 'h',
	// Cyrillic.
	'а': 'a', 'в': 'b', 'с': 'c', 'ԁ': 'd', 'е': 'e', 'ё': 'e', 'һ': 'h', 'і': 'l', 'ї': 'l', 'ј': 'j',
	'к': 'k', 'ӏ': 'l', 'м': 'm', 'н': 'h', 'о': 'o', 'р': 'p', 'ԛ': 'q', 'ѕ': 's', 'т': 't',
	'у': 'y', 'х': 'x', 'ԝ': 'w', 'ь': 'b', 'ѡ': 'w', 'ү': 'y', 'ɢ': 'g',
	// Greek.
	'α': 'a', 'β': 'b', 'ε': 'e', 'η': 'n', 'ι': 'l', 'κ': 'k', 'μ': 'u', 'ν': 'v', 'ο': 'o',
	'ρ': 'p', 'τ': 't', 'υ': 'u', 'χ': 'x', 'ω': 'w', 'γ': 'y', 'ϲ': 'c', 'ϳ': 'j',
	// Armenian.
	'օ': 'o', 'ս': 'u', 'հ': 'h', 'ց': 'g', 'զ': 'q', 'ո': 'n',
	// Punctuation people read as the ASCII sign.
	'‐': '-', '‑': '-', '‒': '-', '–': '-', '—': '-', '―': '-', '−': '-', '⁃': '-', '˗': '-',
	'․': '.', '‧': '.', '・': '.', '·': '.', '٠': '.', '۔': '.',
	'＠': '@', '﹫': '@', 'ˍ': '_', '‗': '_',
}

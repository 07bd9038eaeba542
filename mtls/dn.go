package mtls

import (
	"bytes"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// attributeTypes maps the attribute type names a subject DN may use, in
// lower case, to their OIDs: those of RFC 4514 §3, and those the
// certificates of open-banking ecosystems carry (RFC 4519, RFC 5280
// Appendix A, X.520 organizationIdentifier, the EV jurisdiction
// attributes).
var attributeTypes = map[string]string{
	"cn": "2.5.4.3", "commonname": "2.5.4.3",
	"sn": "2.5.4.4", "surname": "2.5.4.4",
	"serialnumber": "2.5.4.5",
	"c":            "2.5.4.6", "countryname": "2.5.4.6",
	"l": "2.5.4.7", "localityname": "2.5.4.7",
	"st": "2.5.4.8", "stateorprovincename": "2.5.4.8",
	"street": "2.5.4.9", "streetaddress": "2.5.4.9",
	"o": "2.5.4.10", "organizationname": "2.5.4.10",
	"ou": "2.5.4.11", "organizationalunitname": "2.5.4.11",
	"title":            "2.5.4.12",
	"businesscategory": "2.5.4.15",
	"postalcode":       "2.5.4.17",
	"gn":               "2.5.4.42", "givenname": "2.5.4.42",
	"organizationidentifier": "2.5.4.97",
	"dc":                     "0.9.2342.19200300.100.1.25", "domaincomponent": "0.9.2342.19200300.100.1.25",
	"uid": "0.9.2342.19200300.100.1.1", "userid": "0.9.2342.19200300.100.1.1",
	"emailaddress": "1.2.840.113549.1.9.1", "e": "1.2.840.113549.1.9.1",
	"jurisdictionlocalityname":        "1.3.6.1.4.1.311.60.2.1.1",
	"jurisdictionstateorprovincename": "1.3.6.1.4.1.311.60.2.1.2",
	"jurisdictioncountryname":         "1.3.6.1.4.1.311.60.2.1.3",
}

// maxDN bounds the length of a DN string ParseDN accepts.
const maxDN = 4096

// ParseDN parses a distinguished name in the string form of RFC 4514,
// such as a client's registered tls_client_auth_subject_dn (RFC 8705
// §2.1.2), into its RDN sequence in ASN.1 order: the string names the
// last RDN first (RFC 4514 §2.1), so the result is reversed. Attribute
// types are the names of attributeTypes or dotted OIDs; values are
// strings with RFC 4514 §2.4 escapes, or "#" and the hex of their BER
// encoding. Spaces around the separators are ignored, as RFC 1779
// allowed.
func ParseDN(s string) (pkix.RDNSequence, error) {
	if len(s) > maxDN {
		return nil, fmt.Errorf("longer than %d octets", maxDN)
	}
	if !utf8.ValidString(s) {
		return nil, errors.New("not UTF-8")
	}
	p := &dnParser{s: s}
	var seq pkix.RDNSequence
	p.skipSpaces()
	if p.done() {
		return nil, errors.New("empty")
	}
	for {
		var rdn pkix.RelativeDistinguishedNameSET
		for {
			atv, err := p.attribute()
			if err != nil {
				return nil, err
			}
			rdn = append(rdn, atv)
			p.skipSpaces()
			if p.done() || p.s[p.i] != '+' {
				break
			}
			p.i++
		}
		seq = append(seq, rdn)
		if p.done() {
			break
		}
		if c := p.s[p.i]; c != ',' && c != ';' {
			return nil, fmt.Errorf("unexpected %q at offset %d", c, p.i)
		}
		p.i++
	}
	for i, j := 0, len(seq)-1; i < j; i, j = i+1, j-1 {
		seq[i], seq[j] = seq[j], seq[i]
	}
	return seq, nil
}

type dnParser struct {
	s string
	i int
}

func (p *dnParser) done() bool { return p.i >= len(p.s) }

func (p *dnParser) skipSpaces() {
	for !p.done() && p.s[p.i] == ' ' {
		p.i++
	}
}

// attribute parses one attributeTypeAndValue (RFC 4514 §3).
func (p *dnParser) attribute() (pkix.AttributeTypeAndValue, error) {
	p.skipSpaces()
	start := p.i
	for !p.done() && p.s[p.i] != '=' {
		p.i++
	}
	if p.done() {
		return pkix.AttributeTypeAndValue{}, fmt.Errorf("attribute at offset %d has no '='", start)
	}
	oid, err := attributeOID(strings.TrimSpace(p.s[start:p.i]))
	if err != nil {
		return pkix.AttributeTypeAndValue{}, err
	}
	p.i++ // '='
	p.skipSpaces()
	if !p.done() && p.s[p.i] == '#' {
		v, err := p.hexValue()
		return pkix.AttributeTypeAndValue{Type: oid, Value: v}, err
	}
	v, err := p.stringValue()
	return pkix.AttributeTypeAndValue{Type: oid, Value: v}, err
}

func attributeOID(name string) (asn1.ObjectIdentifier, error) {
	if name == "" {
		return nil, errors.New("empty attribute type")
	}
	dotted := attributeTypes[strings.ToLower(name)]
	if dotted == "" {
		if name[0] < '0' || name[0] > '9' {
			return nil, fmt.Errorf("unknown attribute type %q", name)
		}
		dotted = strings.TrimPrefix(strings.ToLower(name), "oid.")
	}
	var oid asn1.ObjectIdentifier
	for part := range strings.SplitSeq(dotted, ".") {
		n, err := strconv.Atoi(part)
		if err != nil || n < 0 || (len(part) > 1 && part[0] == '0') {
			return nil, fmt.Errorf("attribute type %q is neither a known name nor an OID", name)
		}
		oid = append(oid, n)
	}
	if len(oid) < 2 {
		return nil, fmt.Errorf("attribute type %q is neither a known name nor an OID", name)
	}
	return oid, nil
}

// hexValue parses "#" and the hex of a BER encoding (RFC 4514 §2.4).
func (p *dnParser) hexValue() (any, error) {
	p.i++ // '#'
	start := p.i
	for !p.done() && strings.IndexByte("0123456789abcdefABCDEF", p.s[p.i]) >= 0 {
		p.i++
	}
	b, err := hex.DecodeString(p.s[start:p.i])
	if err != nil || len(b) == 0 {
		return nil, fmt.Errorf("bad hex value at offset %d", start)
	}
	var raw asn1.RawValue
	if rest, err := asn1.Unmarshal(b, &raw); err != nil || len(rest) > 0 {
		return nil, fmt.Errorf("hex value at offset %d is not one BER value", start)
	}
	return attributeValue(raw), nil
}

// attributeValue returns a string value as a string, and any other value
// as its encoding, which EqualDN compares octet for octet.
func attributeValue(raw asn1.RawValue) any {
	var v any
	if _, err := asn1.Unmarshal(raw.FullBytes, &v); err == nil {
		if s, ok := v.(string); ok {
			return s
		}
	}
	return asn1.RawValue{FullBytes: raw.FullBytes}
}

// stringValue parses an RFC 4514 §3 string up to an unescaped ',', ';' or
// '+', undoing the §2.4 escapes. Unescaped trailing spaces are not part
// of the value.
func (p *dnParser) stringValue() (string, error) {
	var b []byte
	keep := 0 // len(b) up to the last escaped or non-space octet
	for !p.done() {
		c := p.s[p.i]
		switch c {
		case ',', ';', '+':
			return string(b[:keep]), nil
		case '\\':
			if p.i+1 >= len(p.s) {
				return "", errors.New("escape at the end")
			}
			n := p.s[p.i+1]
			if strings.IndexByte(`"+,;<>\ #=`, n) >= 0 {
				b = append(b, n)
				p.i += 2
			} else if p.i+2 < len(p.s) && isHex(n) && isHex(p.s[p.i+2]) {
				x, _ := hex.DecodeString(p.s[p.i+1 : p.i+3])
				b = append(b, x[0])
				p.i += 3
			} else {
				return "", fmt.Errorf("bad escape at offset %d", p.i)
			}
			keep = len(b)
			continue
		case '"', '<', '>':
			return "", fmt.Errorf("unescaped %q at offset %d", c, p.i)
		}
		b = append(b, c)
		if c != ' ' {
			keep = len(b)
		}
		p.i++
	}
	if !utf8.Valid(b[:keep]) {
		return "", errors.New("escaped value is not UTF-8")
	}
	return string(b[:keep]), nil
}

func isHex(c byte) bool { return strings.IndexByte("0123456789abcdefABCDEF", c) >= 0 }

// rawATV is an attribute with its value undecoded.
type rawATV struct {
	Type  asn1.ObjectIdentifier
	Value asn1.RawValue
}

// rawRDNSET is an RDN; encoding/asn1 reads a slice type whose name ends
// in SET as a SET OF.
type rawRDNSET []rawATV

// SubjectDN returns cert's subject as its RDN sequence, in the order and
// with the multi-valued RDNs of the certificate (pkix.Name flattens
// both).
func SubjectDN(cert *x509.Certificate) (pkix.RDNSequence, error) {
	var raw []rawRDNSET
	rest, err := asn1.Unmarshal(cert.RawSubject, &raw)
	if err != nil {
		return nil, fmt.Errorf("parse subject: %w", err)
	}
	if len(rest) > 0 {
		return nil, errors.New("parse subject: trailing data")
	}
	seq := make(pkix.RDNSequence, len(raw))
	for i, rdn := range raw {
		for _, a := range rdn {
			seq[i] = append(seq[i], pkix.AttributeTypeAndValue{Type: a.Type, Value: attributeValue(a.Value)})
		}
	}
	return seq, nil
}

// EqualDN reports whether a and b name the same entity: the same RDNs in
// the same order, each with the same attributes in any order, string
// values compared as X.500 caseIgnoreMatch does (RFC 4517 §4.2.11):
// ignoring case, leading and trailing spaces, and runs of inner spaces.
// Values of other types compare by their DER encoding.
func EqualDN(a, b pkix.RDNSequence) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !equalRDN(a[i], b[i]) {
			return false
		}
	}
	return true
}

func equalRDN(a, b pkix.RelativeDistinguishedNameSET) bool {
	if len(a) != len(b) {
		return false
	}
	used := make([]bool, len(b))
next:
	for _, x := range a {
		for j, y := range b {
			if !used[j] && x.Type.Equal(y.Type) && equalValue(x.Value, y.Value) {
				used[j] = true
				continue next
			}
		}
		return false
	}
	return true
}

func equalValue(a, b any) bool {
	as, aok := a.(string)
	bs, bok := b.(string)
	if aok && bok {
		return foldValue(as) == foldValue(bs)
	}
	if aok != bok {
		return false
	}
	ar, aok := a.(asn1.RawValue)
	br, bok := b.(asn1.RawValue)
	if aok && bok {
		return bytes.Equal(ar.FullBytes, br.FullBytes)
	}
	ab, err1 := asn1.Marshal(a)
	bb, err2 := asn1.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(ab, bb)
}

func foldValue(s string) string {
	return strings.ToLower(strings.Join(strings.Fields(s), " "))
}

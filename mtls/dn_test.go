package mtls_test

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"testing"

	"github.com/backchannel/backchannel/mtls"
	"github.com/backchannel/backchannel/mtls/mtlstest"
)

var (
	oidCN  = asn1.ObjectIdentifier{2, 5, 4, 3}
	oidC   = asn1.ObjectIdentifier{2, 5, 4, 6}
	oidO   = asn1.ObjectIdentifier{2, 5, 4, 10}
	oidOU  = asn1.ObjectIdentifier{2, 5, 4, 11}
	oidOrg = asn1.ObjectIdentifier{2, 5, 4, 97}
	oidUID = asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 1}
)

// TestSubjectDNMatch compares registered DN strings with the subject of
// a certificate: C=BR, O=Bank + OU=Payments, organizationIdentifier,
// UID, CN=Client\, One (in ASN.1 order, the string names CN first).
func TestSubjectDNMatch(t *testing.T) {
	ca := mtlstest.NewCA(t, "Test CA")
	subject := pkix.Name{ExtraNames: nil}
	seq := pkix.RDNSequence{
		{{Type: oidC, Value: "BR"}},
		{{Type: oidO, Value: "Example Bank"}, {Type: oidOU, Value: "Payments"}},
		{{Type: oidOrg, Value: "OFBBR-1234"}},
		{{Type: oidUID, Value: "a1b2c3"}},
		{{Type: oidCN, Value: "Client, One"}},
	}
	subject.FillFromRDNSequence(&seq)
	raw, err := asn1.Marshal(seq)
	if err != nil {
		t.Fatal(err)
	}
	leaf := ca.Issue(t, &x509.Certificate{RawSubject: raw}).Leaf
	got, err := mtls.SubjectDN(leaf)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		dn   string
		want bool
	}{
		{`CN=Client\, One,UID=a1b2c3,organizationIdentifier=OFBBR-1234,O=Example Bank+OU=Payments,C=BR`, true},
		{`cn=client\, one, uid=A1B2C3, ORGANIZATIONIDENTIFIER=ofbbr-1234, o=example  bank + ou=payments, c=br`, true},
		{`CN=Client\2C One,UID=a1b2c3,2.5.4.97=OFBBR-1234,OU=Payments+O=Example Bank,C=BR`, true},
		{`CN=Client\, One;UID=a1b2c3;organizationIdentifier=OFBBR-1234;O=Example Bank+OU=Payments;C=BR`, true},
		{`CN=Client\, One,UID=a1b2c3,organizationIdentifier=OFBBR-1234,O=Example Bank+OU=Payments,C=#13024252`, true},
		// The same attributes in another order name another entity.
		{`UID=a1b2c3,CN=Client\, One,organizationIdentifier=OFBBR-1234,O=Example Bank+OU=Payments,C=BR`, false},
		// Multi-valued RDN split in two.
		{`CN=Client\, One,UID=a1b2c3,organizationIdentifier=OFBBR-1234,O=Example Bank,OU=Payments,C=BR`, false},
		{`CN=Client\, One,UID=a1b2c3,organizationIdentifier=OFBBR-1234,O=Example Bank+OU=Payments`, false},
		{`CN=Client One,UID=a1b2c3,organizationIdentifier=OFBBR-1234,O=Example Bank+OU=Payments,C=BR`, false},
		{`CN=Client\, One,UID=a1b2c3,organizationIdentifier=OFBBR-1234,O=Example Bank+OU=Payments,C=PT`, false},
	}
	for _, tt := range tests {
		want, err := mtls.ParseDN(tt.dn)
		if err != nil {
			t.Errorf("ParseDN(%q) = %v", tt.dn, err)
			continue
		}
		if eq := mtls.EqualDN(got, want); eq != tt.want {
			t.Errorf("EqualDN(subject, ParseDN(%q)) = %v, want %v", tt.dn, eq, tt.want)
		}
	}
}

func TestParseDN(t *testing.T) {
	tests := []struct {
		dn   string
		want string // Go's RFC 4514 rendering of the result; "" for an error
	}{
		{"CN=Steve Kille,O=Isode Limited,C=GB", "CN=Steve Kille,O=Isode Limited,C=GB"},
		{"OU=Sales+CN=J. Smith,DC=example,DC=net", "OU=Sales+CN=J. Smith,0.9.2342.19200300.100.1.25=#13076578616d706c65,0.9.2342.19200300.100.1.25=#13036e6574"},
		{`CN=James \"Jim\" Smith\, III,DC=example,DC=net`, `CN=James \"Jim\" Smith\, III,0.9.2342.19200300.100.1.25=#13076578616d706c65,0.9.2342.19200300.100.1.25=#13036e6574`},
		{`CN=Before\0dAfter,DC=example,DC=net`, "CN=Before\rAfter,0.9.2342.19200300.100.1.25=#13076578616d706c65,0.9.2342.19200300.100.1.25=#13036e6574"},
		{`CN=Lu\C4\8Di\C4\87`, "CN=Lučić"},
		{`1.3.6.1.4.1.1466.0=#04024869`, `1.3.6.1.4.1.1466.0=#04024869`},
		{`CN=trailing\ `, `CN=trailing\ `},
		{`CN=  spaced  `, `CN=spaced`},
		{"", ""},
		{"CN", ""},
		{"=x", ""},
		{"XX=unknown", ""},
		{"1=short oid", ""},
		{`CN=bad\escape`, ""},
		{`CN=a"b`, ""},
		{`CN=#zz`, ""},
		{`CN=#0402486900`, ""},
		{`CN=end\`, ""},
		{"CN=a,,O=b", ""},
	}
	for _, tt := range tests {
		seq, err := mtls.ParseDN(tt.dn)
		switch {
		case tt.want == "" && err == nil:
			t.Errorf("ParseDN(%q) = %v, want an error", tt.dn, seq)
		case tt.want != "" && err != nil:
			t.Errorf("ParseDN(%q) = %v, want %q", tt.dn, err, tt.want)
		case err == nil && seq.String() != tt.want:
			t.Errorf("ParseDN(%q) = %q, want %q", tt.dn, seq.String(), tt.want)
		}
	}
}

func FuzzParseDN(f *testing.F) {
	f.Add(`CN=Client\, One,UID=a1b2c3,O=Example Bank+OU=Payments,C=#13024252`)
	f.Add(`1.2.3=#0500`)
	f.Fuzz(func(t *testing.T, s string) {
		seq, err := mtls.ParseDN(s)
		if err != nil {
			return
		}
		if !mtls.EqualDN(seq, seq) {
			t.Errorf("EqualDN(x, x) = false for ParseDN(%q)", s)
		}
	})
}

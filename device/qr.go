package device

import (
	"encoding/base64"
	"fmt"

	qrcode "github.com/skip2/go-qrcode"
)

// Enrolment links are shown as QR codes so that a phone's camera opens
// them. Medium error correction (15%) survives a screen's glare and keeps
// the code small enough for a terminal: a link of about 90 characters is
// a 37×37 code, 21 lines of text.

// QRText renders link as a QR code for a terminal: two rows of modules
// per line in Unicode half blocks, with the quiet zone the standard asks
// for. The blocks are the light modules, so the code reads right on the
// usual light-on-dark terminal (and inverted on a light one, which most
// phone cameras read too).
func QRText(link string) (string, error) {
	q, err := qrcode.New(link, qrcode.Medium)
	if err != nil {
		return "", fmt.Errorf("qr code: %w", err)
	}
	return q.ToSmallString(false), nil
}

// QRDataURL renders link as a PNG QR code of size×size pixels, as a data
// URL an HTML page or an admin tool can show as it is.
func QRDataURL(link string, size int) (string, error) {
	png, err := qrcode.Encode(link, qrcode.Medium, size)
	if err != nil {
		return "", fmt.Errorf("qr code: %w", err)
	}
	return "data:image/png;base64," + base64.StdEncoding.EncodeToString(png), nil
}

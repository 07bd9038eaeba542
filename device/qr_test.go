package device_test

import (
	"bytes"
	"encoding/base64"
	"image"
	_ "image/png"
	"strings"
	"testing"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"

	"github.com/backchannel/backchannel/device"
)

const qrLink = "https://login.example.com/device#enrol=abcdefghijklmnopqrstuvwxyz234567"

// decodeQR reads a QR code from img.
func decodeQR(t *testing.T, img image.Image) string {
	t.Helper()
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		t.Fatal(err)
	}
	res, err := qrcode.NewQRCodeReader().Decode(bmp, nil)
	if err != nil {
		t.Fatalf("decode QR: %v", err)
	}
	return res.GetText()
}

func TestQRDataURLScans(t *testing.T) {
	url, err := device.QRDataURL(qrLink, 256)
	if err != nil {
		t.Fatal(err)
	}
	b64, ok := strings.CutPrefix(url, "data:image/png;base64,")
	if !ok {
		t.Fatalf("QRDataURL = %.40q…, want a PNG data URL", url)
	}
	png, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	img, _, err := image.Decode(bytes.NewReader(png))
	if err != nil {
		t.Fatal(err)
	}
	if got := decodeQR(t, img); got != qrLink {
		t.Errorf("the QR code says %q, want %q", got, qrLink)
	}
}

// TestQRTextScans draws the terminal rendering as pixels, as a camera
// pointed at the terminal sees it, and reads it back.
func TestQRTextScans(t *testing.T) {
	text, err := device.QRText(qrLink)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	const px = 4 // pixels per module
	width := len([]rune(lines[0]))
	img := image.NewGray(image.Rect(0, 0, width*px, len(lines)*2*px))
	for y, line := range lines {
		for x, r := range []rune(line) {
			// The upper and lower halves of a character cell, on a
			// light-on-dark terminal: a block draws light text, a space
			// leaves the dark background.
			top := r == '█' || r == '▀'
			bottom := r == '█' || r == '▄'
			for dy := range 2 * px {
				light := top
				if dy >= px {
					light = bottom
				}
				for dx := range px {
					v := uint8(0)
					if light {
						v = 255
					}
					img.Pix[(y*2*px+dy)*img.Stride+x*px+dx] = v
				}
			}
		}
	}
	if got := decodeQR(t, img); got != qrLink {
		t.Errorf("the terminal QR code says %q, want %q", got, qrLink)
	}
	if len(lines) > 30 {
		t.Errorf("the terminal QR code is %d lines tall, want it to fit a terminal", len(lines))
	}
}

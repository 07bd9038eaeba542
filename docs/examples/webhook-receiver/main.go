// Command webhook-receiver is an example receiver of backchannel's webhook
// channel (docs/webhook.md): it verifies each notification's signature
// and approves every new request through the decision callback. A real
// receiver would ask the user in its app first.
//
//	WEBHOOK_SECRET=... BACKCHANNEL_URL=https://op.example go run ./docs/examples/webhook-receiver -addr :9000
//
// It uses only the standard library, so it can be copied as it is.
package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// tolerance is how old (or new) a signed timestamp may be.
const tolerance = 5 * time.Minute

func main() {
	addr := flag.String("addr", "127.0.0.1:9000", "listen address")
	flag.Parse()
	secret := []byte(os.Getenv("WEBHOOK_SECRET"))
	op := strings.TrimSuffix(os.Getenv("BACKCHANNEL_URL"), "/")
	if len(secret) < 32 || op == "" {
		log.Fatal("set WEBHOOK_SECRET (32+ characters) and BACKCHANNEL_URL")
	}
	http.HandleFunc("POST /", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		if err := verify(secret, r.Header.Get("Backchannel-Signature"), body, time.Now()); err != nil {
			log.Printf("refused notification: %v", err)
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var n struct {
			Event          string `json:"event"`
			RequestID      string `json:"request_id"`
			BindingMessage string `json:"binding_message"`
			Summary        string `json:"summary"`
			User           struct {
				Sub string `json:"sub"`
			} `json:"user"`
			Client struct {
				Name string `json:"client_name"`
			} `json:"client"`
		}
		if err := json.Unmarshal(body, &n); err != nil {
			http.Error(w, "bad JSON", http.StatusBadRequest)
			return
		}
		// Answer at once; decide afterwards (backchannel retries
		// notifications that are not answered with a 2xx).
		w.WriteHeader(http.StatusNoContent)
		if n.Event != "request.created" {
			return
		}
		log.Printf("%s asks %s: %q", n.Client.Name, n.User.Sub, n.BindingMessage)
		go func() {
			if err := decide(op, secret, n.RequestID, n.Summary); err != nil {
				log.Printf("approve %s: %v", n.RequestID, err)
			}
		}()
	})
	log.Fatal(http.ListenAndServe(*addr, nil))
}

// verify checks a "t=<unix>,v1=<hex HMAC-SHA256(secret, t.body)>" header.
func verify(secret []byte, header string, body []byte, now time.Time) error {
	var ts string
	var sigs []string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sigs = append(sigs, v)
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return errors.New("no timestamp")
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return errors.New("timestamp out of tolerance")
	}
	want := sign(secret, ts, body)
	for _, s := range sigs {
		if got, err := hex.DecodeString(s); err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return errors.New("signature does not match")
}

func sign(secret []byte, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts + "."))
	m.Write(body)
	return m.Sum(nil)
}

// decide approves request id through the decision callback.
func decide(op string, secret []byte, id, summary string) error {
	body, _ := json.Marshal(map[string]any{"decision": "approve", "summary": summary, "amr": []string{"face"}})
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	req, err := http.NewRequest(http.MethodPost, op+"/webhook/v1/requests/"+url.PathEscape(id)+"/decision", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Backchannel-Signature", "t="+ts+",v1="+hex.EncodeToString(sign(secret, ts, body)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		return fmt.Errorf("HTTP %d: %s", resp.StatusCode, b)
	}
	return nil
}

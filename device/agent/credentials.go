package agent

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	jose "github.com/go-jose/go-jose/v4"
)

// Credentials are what a device keeps after it enrolled: the server, its
// identity there, and its private key.
type Credentials struct {
	Server   string // the issuer; the device API is discovered from it
	DeviceID string // the device's ID, the kid of everything it signs
	Subject  string // the user the device belongs to
	Key      *ecdsa.PrivateKey
}

// credentialsFile is the JSON form of Credentials in a key file.
type credentialsFile struct {
	Server   string          `json:"server"`
	DeviceID string          `json:"device_id"`
	Subject  string          `json:"subject"`
	Key      json.RawMessage `json:"key"` // the private JWK
}

// Save writes c to path as JSON with the private key as a JWK. The file
// is readable by its owner only, and replaced atomically, so a crash never
// leaves half a key behind.
func (c *Credentials) Save(path string) error {
	if err := c.validate(); err != nil {
		return err
	}
	key, err := json.Marshal(jose.JSONWebKey{Key: c.Key, KeyID: c.DeviceID, Algorithm: string(jose.ES256), Use: "sig"})
	if err != nil {
		return fmt.Errorf("encode key: %w", err)
	}
	b, err := json.MarshalIndent(credentialsFile{Server: c.Server, DeviceID: c.DeviceID, Subject: c.Subject, Key: key}, "", "  ")
	if err != nil {
		return err
	}
	// os.CreateTemp creates the file with mode 0600.
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // fails harmlessly once renamed
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// LoadCredentials reads credentials that Save wrote. It refuses a file
// that others can read or write, as ssh does with private keys.
func LoadCredentials(path string) (*Credentials, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	// Windows reports no Unix permission bits worth checking.
	if runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s is accessible by others (mode %v); run chmod 600 %s", path, fi.Mode().Perm(), path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f credentialsFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var k jose.JSONWebKey
	if err := k.UnmarshalJSON(f.Key); err != nil {
		return nil, fmt.Errorf("%s: key: %w", path, err)
	}
	priv, ok := k.Key.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: key is not an EC private key", path)
	}
	c := &Credentials{Server: f.Server, DeviceID: f.DeviceID, Subject: f.Subject, Key: priv}
	if err := c.validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

func (c *Credentials) validate() error {
	var problems []error
	if c.Server == "" {
		problems = append(problems, errors.New("no server"))
	}
	if c.DeviceID == "" {
		problems = append(problems, errors.New("no device id"))
	}
	if c.Key == nil || c.Key.Curve != elliptic.P256() {
		problems = append(problems, errors.New("no P-256 private key"))
	}
	return errors.Join(problems...)
}

package mailer

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	texttemplate "text/template"
)

//go:embed templates/*.txt templates/*.html
var builtin embed.FS

// Data is what a template may use.
type Data struct {
	// ServiceName is the name users know the service by.
	ServiceName string
	// Username is the account's name.
	Username string
	// Code is the mailed code (codes only).
	Code string
	// Minutes is how long the code lives (codes only).
	Minutes int
}

// Templates renders the messages: NAME.txt is the plain-text body, its
// first line "Subject: ..." the subject; NAME.html is the HTML body
// (escaped by html/template).
type Templates struct {
	text map[string]*texttemplate.Template
	html map[string]*htmltemplate.Template
}

// LoadTemplates parses the built-in templates and, when dir is not "",
// the files of dir, which replace the built-in ones of the same name.
// Every template is checked by rendering it once.
func LoadTemplates(dir string) (*Templates, error) {
	t := &Templates{text: map[string]*texttemplate.Template{}, html: map[string]*htmltemplate.Template{}}
	sub, _ := fs.Sub(builtin, "templates")
	if err := t.add(sub); err != nil {
		return nil, err
	}
	if dir != "" {
		if err := t.add(os.DirFS(dir)); err != nil {
			return nil, fmt.Errorf("mailer: templates in %s: %w", dir, err)
		}
	}
	for name := range t.text {
		if _, err := t.Render(name, "", Data{ServiceName: "x", Username: "x", Code: "00000000", Minutes: 10}); err != nil {
			return nil, err
		}
	}
	return t, nil
}

func (t *Templates) add(fsys fs.FS) error {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return err
	}
	for _, e := range entries {
		name, ext := strings.TrimSuffix(e.Name(), filepath.Ext(e.Name())), filepath.Ext(e.Name())
		if e.IsDir() || (ext != ".txt" && ext != ".html") {
			continue
		}
		b, err := fs.ReadFile(fsys, e.Name())
		if err != nil {
			return err
		}
		opt := "missingkey=error"
		if ext == ".txt" {
			tt, err := texttemplate.New(name).Option(opt).Parse(string(b))
			if err != nil {
				return fmt.Errorf("mailer: %w", err)
			}
			t.text[name] = tt
		} else {
			ht, err := htmltemplate.New(name).Option(opt).Parse(string(b))
			if err != nil {
				return fmt.Errorf("mailer: %w", err)
			}
			t.html[name] = ht
		}
	}
	return nil
}

// Has reports whether a message has a template.
func (t *Templates) Has(name string) bool { _, ok := t.text[name]; return ok }

// Render builds message name for recipient to.
func (t *Templates) Render(name, to string, d Data) (Message, error) {
	tt, ok := t.text[name]
	if !ok {
		return Message{}, fmt.Errorf("mailer: no template %q", name)
	}
	var b bytes.Buffer
	if err := tt.Execute(&b, d); err != nil {
		return Message{}, fmt.Errorf("mailer: %w", err)
	}
	first, body, _ := strings.Cut(b.String(), "\n")
	subject, ok := strings.CutPrefix(first, "Subject: ")
	if !ok || strings.TrimSpace(subject) == "" {
		return Message{}, errors.New("mailer: template " + name + ".txt must start with a \"Subject: \" line")
	}
	m := Message{To: to, Subject: strings.TrimSpace(subject), Text: strings.TrimLeft(body, "\n")}
	if ht, ok := t.html[name]; ok {
		b.Reset()
		if err := ht.Execute(&b, d); err != nil {
			return Message{}, fmt.Errorf("mailer: %w", err)
		}
		m.HTML = b.String()
	}
	return m, nil
}

package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/strata-dev/strata/core"
)

func (s *Server) listTypes(c *fiber.Ctx) error {
	return sendJSON(c, fiber.StatusOK, fiber.Map{"items": s.m.VisibleTypes(c.UserContext())})
}

func (s *Server) getType(c *fiber.Ctx) error {
	t, err := s.m.TypeFor(c.UserContext(), param(c, "type"))
	if err != nil {
		return err
	}
	return sendJSON(c, fiber.StatusOK, t)
}

// decodeType reads a type definition.
func decodeType(c *fiber.Ctx) (core.Type, error) {
	var def core.Type
	err := decodeStrict(c, &def, "type definition")
	return def, err
}

// decodeStrict reads a JSON request body into v, refusing unknown fields
// so that a misspelt option is an error rather than silently ignored.
// what names the document in error messages.
func decodeStrict(c *fiber.Ctx, v any, what string) error {
	if err := requireJSON(c); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(c.Body()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var syn *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.As(err, &syn):
			return badRequest("malformed JSON at byte %d", syn.Offset)
		case errors.As(err, &typ):
			return badRequest("%s: %s must be %s", what, typ.Field, typ.Type)
		case errors.Is(err, io.ErrUnexpectedEOF):
			return badRequest("malformed JSON: unexpected end of input")
		}
		return badRequest("%s: %s", what, err.Error())
	}
	if dec.More() {
		return badRequest("malformed JSON: unexpected data after the %s", what)
	}
	return nil
}

func (s *Server) createType(c *fiber.Ctx) error {
	def, err := decodeType(c)
	if err != nil {
		return err
	}
	t, err := s.m.CreateType(c.UserContext(), def)
	if err != nil {
		return err
	}
	c.Location(strings.TrimSuffix(c.Path(), "/") + "/" + t.Name)
	return sendJSON(c, fiber.StatusCreated, t)
}

func (s *Server) updateType(c *fiber.Ctx) error {
	def, err := decodeType(c)
	if err != nil {
		return err
	}
	name := param(c, "type")
	if def.Name == "" {
		def.Name = name
	}
	if def.Name != name {
		return badRequest("the definition names type %q but the path names %q", def.Name, name)
	}
	t, err := s.m.UpdateType(c.UserContext(), def)
	if err != nil {
		return err
	}
	return sendJSON(c, fiber.StatusOK, t)
}

func (s *Server) deleteType(c *fiber.Ctx) error {
	if err := s.m.DeleteType(c.UserContext(), param(c, "type")); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

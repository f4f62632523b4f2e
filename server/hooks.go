package server

import (
	"github.com/gofiber/fiber/v2"

	"github.com/strata-dev/strata/core"
)

func (s *Server) listHooks(c *fiber.Ctx) error {
	mods, err := s.m.HookModulesFor(c.UserContext())
	if err != nil {
		return err
	}
	return sendJSON(c, fiber.StatusOK, fiber.Map{"items": mods})
}

func (s *Server) getHook(c *fiber.Ctx) error {
	mods, err := s.m.HookModulesFor(c.UserContext())
	if err != nil {
		return err
	}
	name := c.Params("name")
	for _, m := range mods {
		if m.Name == name {
			return sendJSON(c, fiber.StatusOK, m)
		}
	}
	return &core.Error{Kind: core.ErrNotFound, Detail: "no hook module " + name}
}

// putHook registers or replaces a module. The module is compiled and
// checked against the ABI before it is accepted, then stored so that it
// survives a restart; calls in flight finish on the module they started
// with. Compiling a large module is slow, so the route has its own time
// limit, HookRegisterTimeout, instead of RequestTimeout (see Mount).
func (s *Server) putHook(c *fiber.Ctx) error {
	if err := core.RequireAdmin(c.UserContext()); err != nil {
		return err // before the body is looked at
	}
	mt, err := mediaType(c)
	if err != nil {
		return err
	}
	if mt != "application/wasm" {
		return fiber.NewError(fiber.StatusUnsupportedMediaType, "a hook module is sent as application/wasm")
	}
	if len(c.Body()) == 0 {
		return badRequest("the request body is empty; send the module")
	}
	name := param(c, "name")
	existed := false
	if mods, err := s.m.HookModules(); err == nil {
		for _, m := range mods {
			existed = existed || m.Name == name
		}
	}
	mod, err := s.m.RegisterHook(c.UserContext(), name, c.Body())
	if err != nil {
		return err
	}
	status := fiber.StatusCreated
	if existed {
		status = fiber.StatusOK
	}
	return sendJSON(c, status, mod)
}

// replayHook runs a module over a type's latest writes and reports what
// it would have decided, writing nothing (SPEC §5 "Fast, testable
// hooks"): the body is a candidate module (application/wasm), or empty
// for the module registered as name. Like a registration it compiles a
// module, so it has the route limits of one (HookRegisterTimeout,
// HookModuleLimit).
func (s *Server) replayHook(c *fiber.Ctx) error {
	if err := core.RequireAdmin(c.UserContext()); err != nil {
		return err // before the body is looked at
	}
	var wasm []byte
	if len(c.Body()) > 0 {
		mt, err := mediaType(c)
		if err != nil {
			return err
		}
		if mt != "application/wasm" {
			return fiber.NewError(fiber.StatusUnsupportedMediaType, "a candidate hook module is sent as application/wasm")
		}
		wasm = c.Body()
	}
	last, err := queryInt(c, "last", 0)
	if err != nil {
		return err
	}
	rep, err := s.m.ReplayHook(c.UserContext(), param(c, "name"), wasm, core.ReplayOptions{
		Type: c.Query("type"), Stage: c.Query("stage"), Last: last,
	})
	if err != nil {
		return err
	}
	return sendJSON(c, fiber.StatusOK, rep)
}

// deleteHook removes a module. A module that types bind is refused with
// 409 naming them, unless ?force=true: their writes then fail with
// hook_failed until a module of that name is registered again.
func (s *Server) deleteHook(c *fiber.Ctx) error {
	force, err := queryBool(c, "force")
	if err != nil {
		return err
	}
	if err := s.m.RemoveHook(c.UserContext(), param(c, "name"), force); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

package server

import (
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/strata-dev/strata/core"
)

// The webhook routes (SPEC §8), for administrators. Delivery, signing and
// the address checks are core's; these only translate HTTP.

func (s *Server) createWebhook(c *fiber.Ctx) error {
	if err := core.RequireAdmin(c.UserContext()); err != nil {
		return err // before the body is looked at
	}
	var req core.WebhookRequest
	if err := decodeStrict(c, &req, "webhook"); err != nil {
		return err
	}
	w, err := s.m.CreateWebhook(c.UserContext(), req)
	if err != nil {
		return err
	}
	c.Location(strings.TrimSuffix(c.Path(), "/") + "/" + w.ID)
	// The secret is in this response only.
	c.Set(fiber.HeaderCacheControl, "no-store")
	return sendJSON(c, fiber.StatusCreated, w)
}

func (s *Server) listWebhooks(c *fiber.Ctx) error {
	list, err := s.m.Webhooks(c.UserContext())
	if err != nil {
		return err
	}
	return sendJSON(c, fiber.StatusOK, fiber.Map{"items": list})
}

func (s *Server) getWebhook(c *fiber.Ctx) error {
	w, err := s.m.Webhook(c.UserContext(), param(c, "id"))
	if err != nil {
		return err
	}
	return sendJSON(c, fiber.StatusOK, w)
}

func (s *Server) deleteWebhook(c *fiber.Ctx) error {
	if err := s.m.DeleteWebhook(c.UserContext(), param(c, "id")); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func (s *Server) resumeWebhook(c *fiber.Ctx) error {
	w, err := s.m.ResumeWebhook(c.UserContext(), param(c, "id"))
	if err != nil {
		return err
	}
	return sendJSON(c, fiber.StatusOK, w)
}

// webhookDeliveries answers the delivery log, newest attempt first;
// ?limit bounds it (default 100, at most core.WebhookDeliveryLogSize).
func (s *Server) webhookDeliveries(c *fiber.Ctx) error {
	limit, err := queryInt(c, "limit", 100)
	if err != nil {
		return err
	}
	if limit < 1 || limit > core.WebhookDeliveryLogSize {
		return badRequest("limit must be from 1 to %d", core.WebhookDeliveryLogSize)
	}
	list, err := s.m.WebhookDeliveries(c.UserContext(), param(c, "id"), limit)
	if err != nil {
		return err
	}
	return sendJSON(c, fiber.StatusOK, fiber.Map{"items": list})
}

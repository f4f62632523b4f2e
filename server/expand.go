package server

import (
	"strings"

	"github.com/gofiber/fiber/v2"
)

// expandOption reads expand=author,author.org: the comma-separated paths
// of reference fields whose targets a read embeds. Core checks them
// against the type (and answers 400 naming the one it refuses) and
// decides what the reader may see of the targets.
func expandOption(c *fiber.Ctx) []string {
	q := strings.Clone(c.Query("expand"))
	if q == "" {
		return nil
	}
	paths := strings.Split(q, ",")
	for i, p := range paths {
		paths[i] = strings.TrimSpace(p)
	}
	return paths
}

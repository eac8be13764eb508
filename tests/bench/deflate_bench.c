/* permessage-deflate on chat traffic (issue 5): compression ratio and CPU
 * per message of our shared codec (protocol/deflate.c), on envelopes as the
 * server sends them, at three text sizes. Prints one JSON line per size.
 * Build and run: make bench-deflate */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "protocol/deflate.h"
#include "protocol/message.h"

static const char *words[] = {"the",   "meeting", "is",     "at",     "three",  "tomorrow", "can",
                              "you",   "send",    "me",     "report", "thanks", "ok",       "see",
                              "later", "deploy",  "server", "went",   "fine",   "lunch",    "?",
                              "!",     "I",       "think",  "we",     "should", "ship",     "it"};

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static void make_text(char *out, size_t len, unsigned *seed) {
  size_t n = 0;
  while (n + 12 < len) {
    const char *w = words[rand_r(seed) % (sizeof words / sizeof words[0])];
    n += (size_t)sprintf(out + n, "%s ", w);
  }
  out[n] = '\0';
}

int main(void) {
  static const size_t sizes[] = {64, 400, 2000};
  const int n = 20000;
  pmd_codec_t codec;
  unsigned seed = 42;
  size_t si;
  pmd_codec_init(&codec, -1);
  for (si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
    double in_total = 0, out_total = 0, t_comp = 0, t_decomp = 0;
    char text[4096], ts[MSG_TIMESTAMP_LEN + 1];
    int i;
    for (i = 0; i < n; i++) {
      strbuf_t env = {0};
      json_t *data;
      const uint8_t *z, *back;
      size_t zlen, blen;
      double t0;
      make_text(text, sizes[si], &seed);
      data = json_pack("{s:s}", "text", text);
      msg_timestamp(1764066645123456LL + i, ts);
      msg_envelope_encode(&env, "chat", 4, data, "alice", NULL, ts);
      t0 = now_ns();
      if (pmd_compress(&codec, (const uint8_t *)env.buf, env.len, &z, &zlen) != PMD_OK) return 1;
      t_comp += now_ns() - t0;
      in_total += (double)env.len;
      out_total += (double)zlen;
      {
        uint8_t *copy = malloc(zlen);
        memcpy(copy, z, zlen);
        t0 = now_ns();
        if (pmd_decompress(&codec, copy, zlen, 1 << 20, &back, &blen) != PMD_OK ||
            blen != env.len || memcmp(back, env.buf, blen) != 0)
          return 1;
        t_decomp += now_ns() - t0;
        free(copy);
      }
      json_decref(data);
      strbuf_free(&env);
    }
    printf("{\"scenario\":\"deflate_chat\",\"text_bytes\":%zu,\"envelope_bytes_avg\":%.0f,"
           "\"compressed_bytes_avg\":%.0f,\"ratio\":%.3f,\"compress_us\":%.2f,"
           "\"decompress_us\":%.2f}\n",
           sizes[si], in_total / n, out_total / n, out_total / in_total, t_comp / n / 1000,
           t_decomp / n / 1000);
  }
  pmd_codec_free(&codec);
  return 0;
}

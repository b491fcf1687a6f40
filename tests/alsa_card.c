/* A capture PCM for alsa-lib (ioplug) that behaves as a sound card does, for tests/alsa_card.py: only the
 * rates (rate, rate2, ...), the sample format and the channel count it is configured with; paced by
 * CLOCK_MONOTONIC at rate * (1 + ppm / 1e6); an overrun (-EPIPE) when the reader falls a buffer behind.
 * Channel c plays a sine at 300 + 200 c Hz (mono 1: every channel channel 0's), amp in millionths of full
 * scale (default 0.5), channels from silent_from on digital zero; crash "text": opening it writes the text to stderr
 * and aborts the process, as a broken plugin does while PortAudio lists the devices. Written by a reviewer (2026-12-05) to
 * show what PortAudio does with 24- and 32-bit and 48 kHz-only cards, which the file PCMs of
 * tests/alsa_device.py, accepting any format and rate, cannot. */
#include <alsa/asoundlib.h>
#include <alsa/pcm_external.h>
#include <sys/timerfd.h>
#include <math.h>
#include <time.h>
#include <unistd.h>
#include <poll.h>
#include <stdint.h>

typedef struct {
    snd_pcm_ioplug_t io;
    unsigned rates[4]; int nrates;
    unsigned channels; snd_pcm_format_t format; long ppm;
    long amp_ppm; long mono; long silent_from; double t0; uint64_t produced; int tfd; double actual;
} fm_t;

static double now_s(void) { struct timespec ts; clock_gettime(CLOCK_MONOTONIC, &ts); return ts.tv_sec + ts.tv_nsec * 1e-9; }

static uint64_t hw_frames(fm_t *f) { return (uint64_t)((now_s() - f->t0) * f->actual); }

static int fm_start(snd_pcm_ioplug_t *io) {
    fm_t *f = io->private_data;
    f->actual = io->rate * (1.0 + f->ppm / 1e6);
    f->t0 = now_s();
    double per = io->period_size / f->actual;
    struct itimerspec it = {{(time_t)per, (long)((per - (time_t)per) * 1e9)}, {(time_t)per, (long)((per - (time_t)per) * 1e9)}};
    timerfd_settime(f->tfd, 0, &it, NULL);
    return 0;
}
static int fm_stop(snd_pcm_ioplug_t *io) {
    fm_t *f = io->private_data; struct itimerspec it = {{0,0},{0,0}}; timerfd_settime(f->tfd, 0, &it, NULL); return 0;
}
static snd_pcm_sframes_t fm_pointer(snd_pcm_ioplug_t *io) {
    fm_t *f = io->private_data;
    snd_pcm_uframes_t boundary; 
    snd_pcm_sw_params_t *sw; snd_pcm_sw_params_alloca(&sw); snd_pcm_sw_params_current(io->pcm, sw);
    snd_pcm_sw_params_get_boundary(sw, &boundary);
    uint64_t hw = hw_frames(f);
    snd_pcm_uframes_t hwm = hw % boundary;
    snd_pcm_uframes_t avail = (hwm + boundary - io->appl_ptr) % boundary;
    if (io->state == SND_PCM_STATE_RUNNING && avail > io->buffer_size) return -EPIPE;
    return hwm;
}
static void put(fm_t *f, char *p, double v) {
    switch (f->format) {
    case SND_PCM_FORMAT_S16_LE: { int16_t s = (int16_t)lrint(v * 32767); memcpy(p, &s, 2); break; }
    case SND_PCM_FORMAT_S32_LE: { int32_t s = (int32_t)llrint(v * 2147483647.0); memcpy(p, &s, 4); break; }
    case SND_PCM_FORMAT_S24_3LE: { int32_t s = (int32_t)lrint(v * 8388607); p[0] = s & 255; p[1] = (s >> 8) & 255; p[2] = (s >> 16) & 255; break; }
    default: break;
    }
}
static snd_pcm_sframes_t fm_transfer(snd_pcm_ioplug_t *io, const snd_pcm_channel_area_t *areas,
                                     snd_pcm_uframes_t offset, snd_pcm_uframes_t size) {
    fm_t *f = io->private_data;
    for (snd_pcm_uframes_t i = 0; i < size; i++) {
        double t = (double)(f->produced + i) / io->rate;
        for (unsigned c = 0; c < io->channels; c++) {
            const snd_pcm_channel_area_t *a = &areas[c];
            char *p = (char *)a->addr + (a->first + (offset + i) * a->step) / 8;
            double amp = f->amp_ppm ? f->amp_ppm / 1e6 : 0.5; unsigned cc = f->mono ? 0 : c;
            put(f, p, (f->silent_from && c >= (unsigned)f->silent_from) ? 0.0 : amp * sin(2 * M_PI * (300.0 + 200.0 * cc) * t));
        }
    }
    f->produced += size;
    return size;
}
static int fm_prepare(snd_pcm_ioplug_t *io) { return 0; }
static int fm_poll_revents(snd_pcm_ioplug_t *io, struct pollfd *pfd, unsigned int nfds, unsigned short *revents) {
    fm_t *f = io->private_data; uint64_t x; while (read(f->tfd, &x, 8) == 8) {}
    *revents = pfd[0].revents & POLLIN ? POLLIN : 0; return 0;
}
static int fm_close(snd_pcm_ioplug_t *io) { fm_t *f = io->private_data; close(f->tfd); free(f); return 0; }

static const snd_pcm_ioplug_callback_t cb = {
    .start = fm_start, .stop = fm_stop, .pointer = fm_pointer, .transfer = fm_transfer,
    .close = fm_close, .prepare = fm_prepare, .poll_revents = fm_poll_revents,
};

SND_PCM_PLUGIN_DEFINE_FUNC(fakemic) {
    snd_config_iterator_t i, next;
    fm_t *f = calloc(1, sizeof(*f));
    f->channels = 2; f->format = SND_PCM_FORMAT_S16_LE;
    snd_config_for_each(i, next, conf) {
        snd_config_t *n = snd_config_iterator_entry(i); const char *id; long v; const char *s;
        if (snd_config_get_id(n, &id) < 0) continue;
        if (!strcmp(id, "comment") || !strcmp(id, "type") || !strcmp(id, "hint")) continue;
        if (!strncmp(id, "rate", 4) && snd_config_get_integer(n, &v) == 0) { f->rates[f->nrates++] = v; continue; }
        if (!strcmp(id, "channels") && snd_config_get_integer(n, &v) == 0) { f->channels = v; continue; }
        if (!strcmp(id, "amp") && snd_config_get_integer(n, &v) == 0) { f->amp_ppm = v; continue; }
        if (!strcmp(id, "mono") && snd_config_get_integer(n, &v) == 0) { f->mono = v; continue; }
        if (!strcmp(id, "silent_from") && snd_config_get_integer(n, &v) == 0) { f->silent_from = v; continue; }
        if (!strcmp(id, "ppm") && snd_config_get_integer(n, &v) == 0) { f->ppm = v; continue; }
        if (!strcmp(id, "format") && snd_config_get_string(n, &s) == 0) { f->format = snd_pcm_format_value(s); continue; }
        if (!strcmp(id, "crash") && snd_config_get_string(n, &s) == 0) { fprintf(stderr, "%s\n", s); abort(); }
        SNDERR("fakemic: unknown field %s", id); free(f); return -EINVAL;
    }
    if (!f->nrates) f->rates[f->nrates++] = 48000;
    if (stream != SND_PCM_STREAM_CAPTURE) { free(f); return -EINVAL; }
    f->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    f->io.version = SND_PCM_IOPLUG_VERSION; f->io.name = "fakemic"; f->io.callback = &cb; f->io.private_data = f;
    f->io.poll_fd = f->tfd; f->io.poll_events = POLLIN; f->io.mmap_rw = 0;
    f->io.flags = SND_PCM_IOPLUG_FLAG_BOUNDARY_WA;
    int err = snd_pcm_ioplug_create(&f->io, name, stream, mode);
    if (err < 0) { free(f); return err; }
    static const unsigned acc[] = { SND_PCM_ACCESS_MMAP_INTERLEAVED, SND_PCM_ACCESS_RW_INTERLEAVED };
    unsigned fmt = f->format;
    snd_pcm_ioplug_set_param_list(&f->io, SND_PCM_IOPLUG_HW_ACCESS, 2, acc);
    snd_pcm_ioplug_set_param_list(&f->io, SND_PCM_IOPLUG_HW_FORMAT, 1, &fmt);
    snd_pcm_ioplug_set_param_minmax(&f->io, SND_PCM_IOPLUG_HW_CHANNELS, f->channels, f->channels);
    snd_pcm_ioplug_set_param_list(&f->io, SND_PCM_IOPLUG_HW_RATE, f->nrates, f->rates);
    snd_pcm_ioplug_set_param_minmax(&f->io, SND_PCM_IOPLUG_HW_PERIOD_BYTES, 64, 1 << 20);
    snd_pcm_ioplug_set_param_minmax(&f->io, SND_PCM_IOPLUG_HW_PERIODS, 2, 64);
    *pcmp = f->io.pcm;
    return 0;
}
SND_PCM_PLUGIN_SYMBOL(fakemic);

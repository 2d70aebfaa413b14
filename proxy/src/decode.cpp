// Content decoding (see decode.hpp). Each coding is one Stage; a stage's output is fed on to the next
// stage (the next coding inward) in 16 KiB pieces, so no intermediate buffer grows past that, and every
// stage's total output counts against the cap (a small gzip inside a gzip cannot expand without bound).
#include "decode.hpp"

#define ZLIB_CONST  // z_stream::next_in is const
#include <brotli/decode.h>
#include <zlib.h>

#include <array>
#include <cctype>
#include <new>

#include <fmt/format.h>

#include "target.hpp"

namespace airlock::proxy {

namespace {

constexpr std::size_t kPiece = 16 * 1024;

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Calls `each` with every element of every field named `name`, trimmed and lowercased, skipping empty ones.
template <class Each>
void for_each_element(const http1::Headers& headers, std::string_view name, Each each) {
  for (const auto& field : headers.fields) {
    if (!iequals(field.name, name)) continue;
    std::string_view list = field.value;
    while (!list.empty()) {
      const auto comma = list.find(',');
      const std::string_view element = trim(list.substr(0, comma));
      if (!element.empty()) each(lower(element));
      list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
    }
  }
}

}  // namespace

Codings content_codings(const http1::Headers& headers) {
  Codings codings;
  for_each_element(headers, "Content-Encoding", [&](const std::string& element) {
    if (element == "identity") return;
    if (element == "gzip" || element == "x-gzip") {
      codings.applied.push_back(Coding::gzip);
    } else if (element == "deflate") {
      codings.applied.push_back(Coding::deflate);
    } else if (element == "br") {
      codings.applied.push_back(Coding::br);
    } else if (codings.unknown.empty()) {
      codings.unknown = element;
    }
  });
  return codings;
}

std::string extra_transfer_coding(const http1::Headers& headers) {
  std::string extra;
  for_each_element(headers, "Transfer-Encoding", [&](const std::string& element) {
    if (element != "chunked" && extra.empty()) extra = element;
  });
  return extra;
}

// ---- stages ----

struct ContentDecoder::Stage {
  Coding coding;
  std::size_t produced = 0;  // total output of this stage
  bool ended = false;        // the coded stream's end was seen

  // zlib (gzip, deflate)
  z_stream zlib{};
  bool zlib_ready = false;
  std::string deflate_head;  // deflate: the first bytes, until the zlib wrapper can be told from raw deflate

  // brotli
  BrotliDecoderState* brotli = nullptr;

  explicit Stage(Coding c) : coding(c) {
    if (coding == Coding::br) {
      brotli = BrotliDecoderCreateInstance(nullptr, nullptr, nullptr);
      if (brotli == nullptr) throw std::bad_alloc();
    } else if (coding == Coding::gzip) {
      init_zlib(15 + 16);
    }
  }
  ~Stage() {
    if (zlib_ready) inflateEnd(&zlib);
    if (brotli != nullptr) BrotliDecoderDestroyInstance(brotli);
  }
  Stage(const Stage&) = delete;
  Stage& operator=(const Stage&) = delete;

  void init_zlib(int window_bits) {
    if (inflateInit2(&zlib, window_bits) != Z_OK) throw std::bad_alloc();
    zlib_ready = true;
  }
};

ContentDecoder::ContentDecoder(const std::vector<Coding>& applied, std::size_t max_output) : max_output_(max_output) {
  for (auto it = applied.rbegin(); it != applied.rend(); ++it) stages_.push_back(std::make_unique<Stage>(*it));
}

ContentDecoder::~ContentDecoder() = default;

bool ContentDecoder::feed(std::string_view encoded) {
  if (!error_.empty()) return false;
  if (stages_.empty()) {
    if (output_.size() + encoded.size() > max_output_) {
      error_ = fmt::format("the body is larger than {} bytes", max_output_);
      return false;
    }
    output_.append(encoded);
    return true;
  }
  if (encoded.empty()) return true;
  fed_ = true;
  return push(0, encoded, false);
}

bool ContentDecoder::finish() {
  if (!error_.empty()) return false;
  // An empty body labelled with a coding (a 200 with Content-Length: 0 and gzip) decodes to nothing.
  if (stages_.empty() || !fed_) return true;
  return push(0, {}, true);
}

// Decodes `input` through stage `index`, handing its output to the next stage (or output_). `at_end`: no
// more input will come to this stage.
bool ContentDecoder::push(std::size_t index, std::string_view input, bool at_end) {
  Stage& stage = *stages_[index];
  const bool last = index + 1 == stages_.size();
  std::array<unsigned char, kPiece> piece;
  const auto deliver = [&](std::size_t n) {
    if (n == 0) return true;
    stage.produced += n;
    if (stage.produced > max_output_) {
      error_ = fmt::format("the decoded body is larger than {} bytes", max_output_);
      return false;
    }
    const std::string_view bytes(reinterpret_cast<const char*>(piece.data()), n);
    if (last) {
      output_.append(bytes);
      return true;
    }
    return push(index + 1, bytes, false);
  };
  const auto fail = [&](std::string_view why) {
    static constexpr std::array<std::string_view, 3> kNames = {"gzip", "deflate", "br"};
    error_ = fmt::format("the {} body cannot be decoded ({})", kNames[static_cast<std::size_t>(stage.coding)], why);
    return false;
  };

  if (stage.coding == Coding::br) {
    const auto* next_in = reinterpret_cast<const std::uint8_t*>(input.data());
    std::size_t available_in = input.size();
    for (;;) {
      std::uint8_t* next_out = piece.data();
      std::size_t available_out = piece.size();
      const BrotliDecoderResult result =
          BrotliDecoderDecompressStream(stage.brotli, &available_in, &next_in, &available_out, &next_out, nullptr);
      if (result == BROTLI_DECODER_RESULT_ERROR) {
        return fail(BrotliDecoderErrorString(BrotliDecoderGetErrorCode(stage.brotli)));
      }
      if (!deliver(piece.size() - available_out)) return false;
      if (result == BROTLI_DECODER_RESULT_SUCCESS) {
        if (available_in > 0) return fail("data after the end of the stream");
        stage.ended = true;
        break;
      }
      if (result == BROTLI_DECODER_RESULT_NEEDS_MORE_INPUT) break;
      // NEEDS_MORE_OUTPUT: go round with a fresh piece.
    }
  } else {
    if (stage.coding == Coding::deflate && !stage.zlib_ready) {
      // "deflate" is meant to be zlib-wrapped (RFC 9110 §8.4.1.2), but some servers send raw deflate; the
      // first two bytes tell (a zlib header is CM 8 and a multiple of 31).
      stage.deflate_head.append(input);
      if (stage.deflate_head.size() < 2 && !at_end) return true;
      const auto b0 = static_cast<unsigned char>(stage.deflate_head.size() > 0 ? stage.deflate_head[0] : 0);
      const auto b1 = static_cast<unsigned char>(stage.deflate_head.size() > 1 ? stage.deflate_head[1] : 0);
      const bool zlib_wrapped = (b0 & 0x0f) == 8 && ((b0 << 8) | b1) % 31 == 0;
      stage.init_zlib(zlib_wrapped ? 15 : -15);
      const std::string head = std::move(stage.deflate_head);
      stage.deflate_head.clear();
      return push(index, head, at_end);
    }
    z_stream& z = stage.zlib;
    z.next_in = reinterpret_cast<const Bytef*>(input.data());
    z.avail_in = static_cast<uInt>(input.size());
    while (z.avail_in > 0 || (at_end && !stage.ended)) {
      if (stage.ended) {
        // A gzip body may hold several members; anything else after the end is not part of it.
        if (stage.coding != Coding::gzip) return fail("data after the end of the stream");
        if (inflateReset(&z) != Z_OK) return fail("reset failed");
        stage.ended = false;
      }
      z.next_out = piece.data();
      z.avail_out = static_cast<uInt>(piece.size());
      const int rc = inflate(&z, Z_NO_FLUSH);
      const std::size_t made = piece.size() - z.avail_out;
      if (rc == Z_STREAM_END) {
        stage.ended = true;
      } else if (rc == Z_BUF_ERROR) {
        if (made == 0 && z.avail_in == 0) break;  // needs more input
      } else if (rc != Z_OK) {
        return fail(z.msg != nullptr ? z.msg : "corrupt data");
      }
      if (!deliver(made)) return false;
      if (rc == Z_OK && made == 0 && z.avail_in == 0) break;
    }
  }

  if (at_end) {
    if (!stage.ended) return fail("the stream is truncated");
    if (!last) return push(index + 1, {}, true);
  }
  return true;
}

}  // namespace airlock::proxy

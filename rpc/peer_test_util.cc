#include "rpc/peer_test_util.h"

#include <boost/asio/buffer.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

namespace kvd::rpc::testing {

namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;

bool RawSocket::RunUntil(const bool& done) {
  io_.restart();
  io_.run_for(kTimeout);
  if (!done) {
    error_code ignored;
    socket_.cancel(ignored);
    acceptor_.cancel(ignored);
    io_.restart();
    io_.run();  // lets the cancelled handler finish before its captures go out of scope
  }
  return done;
}

bool RawSocket::Connect(const tcp::endpoint& to) {
  bool done = false;
  bool ok = false;
  socket_.async_connect(to, [&](const error_code& ec) {
    ok = !ec;
    done = true;
  });
  return RunUntil(done) && ok;
}

bool RawSocket::Write(std::string_view bytes) {
  bool done = false;
  bool ok = false;
  asio::async_write(socket_, asio::buffer(bytes.data(), bytes.size()),
                    [&](const error_code& ec, size_t) {
                      ok = !ec;
                      done = true;
                    });
  return RunUntil(done) && ok;
}

tcp::endpoint RawSocket::Listen(const tcp::endpoint& at) {
  error_code ec;
  acceptor_.open(at.protocol(), ec);
  if (!ec) acceptor_.bind(at, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  return ec ? tcp::endpoint() : acceptor_.local_endpoint(ec);
}

bool RawSocket::Accept() {
  bool done = false;
  bool ok = false;
  acceptor_.async_accept(socket_, [&](const error_code& ec) {
    ok = !ec;
    done = true;
  });
  return RunUntil(done) && ok;
}

bool RawSocket::ReadExactly(size_t n, std::string* out) {
  out->assign(n, '\0');
  bool done = false;
  bool ok = false;
  asio::async_read(socket_, asio::buffer(out->data(), n), [&](const error_code& ec, size_t) {
    ok = !ec;
    done = true;
  });
  return RunUntil(done) && ok;
}

bool RawSocket::WaitClosed() {
  char byte = 0;
  bool done = false;
  bool closed = false;
  socket_.async_read_some(asio::buffer(&byte, 1), [&](const error_code& ec, size_t) {
    closed = static_cast<bool>(ec);  // eof or reset; data would mean "still open"
    done = true;
  });
  return RunUntil(done) && closed;
}

}  // namespace kvd::rpc::testing

// EventQueue: the simulator's virtual clock and agenda.
//
// Events are closures scheduled at a virtual time (milliseconds of simulated time, never wall
// clock). They run in (time, sequence number) order, so two events scheduled for the same time
// run in the order they were scheduled: the whole run is a pure function of the seed.
//
// Ownership: the queue owns the closures it holds; closures borrow whatever they capture and
// must not outlive it (the Simulator that owns the queue also owns every captured object).
// Bound: at most kMaxPending events; scheduling past it is a simulator bug (CHECK).
// Thread-safety: none; one simulator owns one queue.
#pragma once

#include <cstdint>
#include <functional>
#include <queue>
#include <vector>

#include "raft/check.h"

namespace kvd::sim {

class EventQueue {
 public:
  static constexpr size_t kMaxPending = 1 << 20;

  int64_t now() const { return now_; }
  bool empty() const { return heap_.empty(); }
  size_t size() const { return heap_.size(); }
  int64_t next_time() const { return heap_.top().time; }

  // Schedules fn at now() + delay (delay >= 0).
  void After(int64_t delay, std::function<void()> fn) {
    KVD_CHECK(delay >= 0);
    KVD_CHECK_MSG(heap_.size() < kMaxPending, "event queue overflow");
    heap_.push(Event{now_ + delay, next_seq_++, std::move(fn)});
  }

  // Pops the earliest event, advances the clock to its time and runs it.
  void RunNext() {
    // top() is const; moving out of it is safe because the element is popped right after.
    Event ev = std::move(const_cast<Event&>(heap_.top()));
    heap_.pop();
    now_ = ev.time;
    ev.fn();
  }

 private:
  struct Event {
    int64_t time;
    uint64_t seq;
    std::function<void()> fn;
  };
  struct Later {
    bool operator()(const Event& a, const Event& b) const {
      return a.time != b.time ? a.time > b.time : a.seq > b.seq;
    }
  };

  int64_t now_ = 0;
  uint64_t next_seq_ = 0;
  std::priority_queue<Event, std::vector<Event>, Later> heap_;
};

}  // namespace kvd::sim

(function(){
  "use strict";
  var MAX_LINES = 5000;
  var init = JSON.parse(document.getElementById('rw-initial').textContent);
  var logEl = document.getElementById('log');
  var live = window.rwLive = {offset: init.log.from, event: 0, status: init.execution.status,
                              socket: null, ended: false, reconnects: 0, messages: 0, lines: 0};
  var streams = {};
  var FG = {30:0,31:1,32:2,33:3,34:4,35:5,36:6,37:7,90:8,91:9,92:10,93:11,94:12,95:13,96:14,97:15};
  var BG = {40:0,41:1,42:2,43:3,44:4,45:5,46:6,47:7,100:8,101:9,102:10,103:11,104:12,105:13,106:14,107:15};

  function state(code){
    var s = streams[code];
    if (!s) { s = streams[code] = {sgr:{}, segs:[], el:null, cr:false, pend:'', dirty:false}; }
    return s;
  }
  function palette(n){
    if (n < 16) return null;
    if (n >= 232) { var g = 8 + (n - 232) * 10; return 'rgb('+g+','+g+','+g+')'; }
    n -= 16; var c = [0,95,135,175,215,255];
    return 'rgb('+c[Math.floor(n/36)]+','+c[Math.floor(n/6)%6]+','+c[n%6]+')';
  }
  function applySgr(sgr, params){
    var p = params === '' ? [0] : params.split(';').map(function(x){ return parseInt(x || '0', 10); });
    for (var i = 0; i < p.length; i++) {
      var v = p[i];
      if (v === 0) { for (var k in sgr) delete sgr[k]; }
      else if (v === 1) sgr.bold = true; else if (v === 2) sgr.dim = true; else if (v === 3) sgr.italic = true;
      else if (v === 4) sgr.underline = true; else if (v === 22) { delete sgr.bold; delete sgr.dim; }
      else if (v === 23) delete sgr.italic; else if (v === 24) delete sgr.underline;
      else if (v in FG) { sgr.fg = FG[v]; delete sgr.fgc; } else if (v === 39) { delete sgr.fg; delete sgr.fgc; }
      else if (v in BG) { sgr.bg = BG[v]; delete sgr.bgc; } else if (v === 49) { delete sgr.bg; delete sgr.bgc; }
      else if ((v === 38 || v === 48) && p[i+1] === 5) {
        var n = p[i+2] || 0, col = palette(n), fg = v === 38;
        if (col) { sgr[fg?'fgc':'bgc'] = col; delete sgr[fg?'fg':'bg']; } else { sgr[fg?'fg':'bg'] = n; delete sgr[fg?'fgc':'bgc']; }
        i += 2;
      } else if ((v === 38 || v === 48) && p[i+1] === 2) {
        sgr[v === 38 ? 'fgc' : 'bgc'] = 'rgb('+(p[i+2]||0)+','+(p[i+3]||0)+','+(p[i+4]||0)+')';
        delete sgr[v === 38 ? 'fg' : 'bg']; i += 4;
      }
    }
  }
  function spanFor(text, sgr){
    var span = document.createElement('span'), cls = [];
    if (sgr.bold) cls.push('ansi-bold'); if (sgr.dim) cls.push('ansi-dim'); if (sgr.italic) cls.push('ansi-italic');
    if (sgr.underline) cls.push('ansi-underline');
    if (sgr.fg !== undefined) cls.push('ansi-fg-'+sgr.fg); if (sgr.bg !== undefined) cls.push('ansi-bg-'+sgr.bg);
    if (cls.length) span.className = cls.join(' ');
    if (sgr.fgc) span.style.color = sgr.fgc; if (sgr.bgc) span.style.background = sgr.bgc;
    span.textContent = text; return span;
  }
  function plain(sgr){ for (var k in sgr) return false; return true; }
  function fill(el, segs){
    if (segs.length === 1 && plain(segs[0][1])) { el.textContent = segs[0][0]; return; }  // most lines: no colour
    el.textContent = '';
    for (var i = 0; i < segs.length; i++) el.appendChild(spanFor(segs[i][0], segs[i][1]));
  }
  function lineEl(code){ var el = document.createElement('div'); el.className = 'line stream-'+code; return el; }
  // Lines completed in this drain; only the last MAX_LINES become elements (a burst of a
  // million lines costs no DOM work for the lines that would be dropped at once).
  var fresh = [], skipped = 0;
  function finish(code, s){
    if (s.el) { fill(s.el, s.segs); s.el = null; }
    else { fresh.push([code, s.segs]); if (fresh.length > 2 * MAX_LINES) { skipped += fresh.length - MAX_LINES; fresh = fresh.slice(-MAX_LINES); } }
    s.segs = []; s.dirty = false;
  }
  var TOKEN = /\x1b\[([0-9;?]*)([A-Za-z])|\r\n|\r|\n|[^\x1b\r\n]+|\x1b/g;
  function feed(code, text){
    var s = state(code);
    text = s.pend + text; s.pend = '';
    var tail = /\x1b(\[[0-9;?]*)?$/.exec(text);
    if (tail) { s.pend = tail[0]; text = text.slice(0, tail.index); }
    TOKEN.lastIndex = 0; var m;
    while ((m = TOKEN.exec(text)) !== null) {
      var tok = m[0];
      if (s.cr && tok !== '\n' && tok !== '\r\n') { s.segs = []; s.dirty = true; }  // `\r`: the line starts over
      s.cr = false;
      if (m[2] !== undefined) { if (m[2] === 'm') applySgr(s.sgr, m[1]); continue; }
      if (tok === '\n' || tok === '\r\n') { finish(code, s); continue; }
      if (tok === '\r') { s.cr = true; continue; }
      if (tok === '\x1b') continue;
      s.segs.push([tok, Object.assign({}, s.sgr)]); s.dirty = true;
    }
  }
  function flushLines(){
    var list = fresh.length > MAX_LINES ? fresh.slice(-MAX_LINES) : fresh;
    skipped += fresh.length - list.length; fresh = [];
    var frag = document.createDocumentFragment();
    for (var i = 0; i < list.length; i++) { var el = lineEl(list[i][0]); fill(el, list[i][1]); frag.appendChild(el); }
    live.lines += list.length;
    // Open lines (no newline yet) go after the completed ones, and stay in place until they end.
    var open = [];
    for (var code in streams) {
      var s = streams[code];
      if (s.el && s.dirty) { fill(s.el, s.segs); s.dirty = false; }
      else if (!s.el && s.segs.length) { s.el = lineEl(code); fill(s.el, s.segs); s.dirty = false; open.push(s.el); }
    }
    logEl.appendChild(frag);
    for (var j = 0; j < open.length; j++) logEl.appendChild(open[j]);
    var extra = logEl.childElementCount - MAX_LINES;
    if (extra > 0 || skipped > 0) {
      for (var k = 0; k < extra; k++) {
        var first = logEl.firstChild;
        for (var c in streams) if (streams[c].el === first) streams[c].el = null;
        logEl.removeChild(first);
      }
      document.getElementById('log-trimmed').hidden = false;
    }
  }
  var queue = [], scheduled = false;
  function schedule(){ if (!scheduled) { scheduled = true; (window.requestAnimationFrame || setTimeout)(drain); } }
  function drain(){
    scheduled = false;
    var stick = logEl.scrollTop + logEl.clientHeight >= logEl.scrollHeight - 40;
    var batch = queue; queue = [];
    for (var i = 0; i < batch.length; i++) apply(batch[i]);
    flushLines();
    logEl.dataset.offset = live.offset;
    if (live.socket && live.socket.readyState === 1) live.socket.send(JSON.stringify({ack: live.offset}));  // flow control
    if (stick) logEl.scrollTop = logEl.scrollHeight;
  }
  function apply(m){
    if (m.t === 'log') {
      if (m.to <= live.offset && m.from !== m.to) return;            // already shown
      if (m.from !== live.offset) { reconnect(); return; }           // never show a gap
      for (var i = 0; i < m.c.length; i++) feed(m.c[i][0], m.c[i][1]);
      live.offset = m.to;
    } else if (m.t === 'skip') {
      if (m.from !== live.offset) { reconnect(); return; }
      for (var c in streams) { var st = streams[c]; if (st.segs.length || st.el) finish(c, st); }
      fresh.push(['s', [['[' + (m.to - m.from) + ' bytes not shown here: the page follows the end of the log; the whole log is in the download]', {}]]]);
      live.offset = m.to; live.skipped = (live.skipped || 0) + (m.to - m.from);
      document.getElementById('log-trimmed').hidden = false;
    } else if (m.t === 'events') {
      var ol = document.getElementById('events');
      for (var j = 0; j < m.items.length; j++) {
        var e = m.items[j]; if (e.seq <= live.event) continue;
        var li = document.createElement('li'); li.value = e.seq; li.dataset.seq = e.seq; li.dataset.kind = e.kind;
        li.textContent = e.kind + ' ' + JSON.stringify(e.data) + ' (' + e.at + ')'; ol.appendChild(li); live.event = e.seq;
      }
    } else if (m.t === 'status') {
      var x = m.execution, st = document.getElementById('status');
      live.status = x.status; st.textContent = x.status; st.dataset.status = x.status; st.className = 'st st-'+x.status;
      document.querySelectorAll('[data-field]').forEach(function(el){
        var v = x[el.dataset.field]; el.textContent = (v === null || v === undefined) ? '' : v;
      });
      if (!x.active) { var c = document.getElementById('cancel-form'); if (c) c.remove(); }
    } else if (m.t === 'end') {
      live.ended = true; document.getElementById('live-state').textContent = 'run finished; log complete';
    }
  }
  var timer = null;
  function reconnect(){
    if (live.socket) { try { live.socket.onclose = null; live.socket.close(); } catch (e) {} }
    live.socket = null; if (!live.ended && !timer) timer = setTimeout(connect, 500);
  }
  function connect(){
    timer = null;
    if (live.ended) return;
    var url = (location.protocol==='https:'?'wss':'ws')+'://'+location.host+'/'+init.ws+
              '?offset='+live.offset+'&event='+live.event+'&status='+encodeURIComponent(live.status);
    var ws = new WebSocket(url); live.socket = ws;
    ws.onopen = function(){ document.getElementById('live-state').textContent = 'live'; };
    ws.onmessage = function(ev){ live.messages++; queue.push(JSON.parse(ev.data)); schedule(); };
    ws.onclose = function(ev){
      if (ws !== live.socket) return;
      drain(); live.socket = null;
      if (ev.code === 4403) { document.getElementById('live-state').textContent = 'not allowed to follow this run'; return; }
      if (!live.ended) { live.reconnects++; document.getElementById('live-state').textContent = 'reconnecting…'; timer = setTimeout(connect, 1000); }
    };
  }
  apply(init.log); apply({t:'events', items: init.events}); drain();
  live.event = Math.max(live.event, init.event);
  connect();  // a finished run's socket sends what is left, then `end`
})();

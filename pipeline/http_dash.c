/*
 * http_dash.c: the dashboard page `/` (throughput, workers, nodes, jobs,
 * failures, rejections, review, breakdowns) and the Chart.js it uses, served
 * locally from Debian's libjs-chart.js (records centres have no
 * internet), and the job page `/jobs/N`. The pages hold no data: its script
 * reads /api/v1/status, /api/v1/jobs and /api/v1/throughput every 2 s (and
 * /api/v1/breakdown for the last hour, shift and day every 30 s) with the
 * token it was given once in the address (`/#token=...`, kept in
 * sessionStorage), and writes every value with textContent, never as HTML. The
 * page is split into literals under C11's 4095 characters.
 */
#include <microhttpd.h>
#include <stdio.h>
#include <string.h>

#include "pipeline/base/pm.h"
#include "pipeline/http_int.h"

/* Largest script file served. */
#define JS_MAX (4 << 20)

static const char *const page[] = {
    "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
    "<title>pagemill</title>\n"
    "<meta name=\"viewport\" content=\"width=device-width\">\n"
    "<style>\n"
    "body{font:14px/1.4 sans-serif;margin:1em;background:#f6f6f4;"
    "color:#222}\n"
    "h1{font-size:20px;margin:0 0 .5em}h2{font-size:15px;margin:.2em 0}\n"
    ".grid{display:grid;grid-template-columns:repeat(auto-fit,"
    "minmax(420px,1fr));gap:12px}\n"
    ".card{background:#fff;border:1px solid #ddd;border-radius:6px;"
    "padding:10px}\n"
    ".big{display:flex;gap:24px;flex-wrap:wrap}.big div{min-width:120px}\n"
    ".big b{display:block;font-size:26px}\n"
    "table{border-collapse:collapse;width:100%}td,th{text-align:left;"
    "padding:2px 6px;border-bottom:1px solid #eee;font-size:13px}\n"
    "tr.bad td{background:#fde8e8}#err{color:#b00}\n"
    "</style></head>\n<body data-state=\"loading\">\n"
    "<h1>pagemill <span id=\"err\"></span></h1>\n"
    "<div class=\"card big\">\n"
    "<div>pages/hour now<b id=\"rate\">-</b></div>\n"
    "<div>last hour<b id=\"hour\">-</b></div>\n"
    "<div>queued pages<b id=\"queue\">-</b></div>\n"
    "<div>oldest queued<b id=\"oldest\">-</b></div>\n"
    "<div>time to drain<b id=\"drain\">-</b></div>\n"
    "<div>billable pages<b id=\"billable\">-</b></div>\n"
    "<div>low confidence<b id=\"lowconf\">-</b></div>\n"
    "</div>\n<div class=\"grid\" style=\"margin-top:12px\">\n"
    "<div class=\"card\"><h2>pages finished per minute, last hour</h2>\n"
    "<canvas id=\"chart\" height=\"160\" data-total=\"0\" "
    "data-updates=\"0\"></canvas></div>\n"
    "<div class=\"card\"><h2>workers</h2><table><thead><tr><th>slot</th>"
    "<th>state</th><th>job</th><th>page</th><th>up</th></tr></thead>"
    "<tbody id=\"workers\"></tbody></table>\n"
    "<h2 style=\"margin-top:8px\">jobs by state</h2><table><tbody "
    "id=\"states\"></tbody></table></div>\n",

    "<div class=\"card\"><h2>nodes</h2><table><thead><tr><th>node</th>"
    "<th>role</th><th>state</th><th>slots</th><th>busy</th>"
    "<th>pages/hour</th><th>load</th><th>heartbeat</th></tr></thead>"
    "<tbody id=\"nodes\"></tbody></table></div>\n"
    "<div class=\"card\"><h2>recent jobs</h2><table><thead><tr><th>job</th>"
    "<th>work order</th><th>account</th><th>pages</th><th>billable</th>"
    "<th>state</th><th>duration</th></tr></thead><tbody id=\"jobs\">"
    "</tbody></table></div>\n"
    "<div class=\"card\"><h2>failed and held jobs</h2><table><tbody "
    "id=\"failures\"></tbody></table>\n"
    "<h2 style=\"margin-top:8px\">rejected batches</h2><table><tbody "
    "id=\"rejected\"></tbody></table>\n"
    "<h2 style=\"margin-top:8px\">waiting for their marker</h2><table>"
    "<tbody id=\"waiting\"></tbody></table>\n"
    "<h2 style=\"margin-top:8px\">pages flagged for review</h2><table>"
    "<tbody id=\"review\"></tbody></table></div>\n",

    "<div class=\"card\"><h2>pages done by hot folder, account and "
    "operator</h2><table><thead><tr><th>by</th><th>name</th>"
    "<th>last hour</th><th>shift (8 h)</th><th>day</th></tr></thead>"
    "<tbody id=\"breakdown\"></tbody></table></div>\n"
    "</div>\n"
    "<script src=\"/static/chart.min.js\"></script>\n"
    "<script>\n"
    "'use strict';\n"
    "const tok=(()=>{const m=location.hash.match(/token=([^&]+)/);"
    "if(m){sessionStorage.setItem('pmtoken',m[1]);"
    "history.replaceState(null,'',location.pathname);}"
    "return sessionStorage.getItem('pmtoken');})();\n"
    "async function get(p){const r=await fetch(p,{headers:tok?"
    "{Authorization:'Bearer '+tok}:{}});if(!r.ok)throw new Error(p+': '+"
    "r.status);return r.json();}\n"
    "function set(id,v){document.getElementById(id).textContent="
    "v===null||v===undefined?'-':String(v);}\n"
    "function dur(s){if(s===null||s===undefined)return '-';s=Math.max(0,"
    "Math.round(s));if(s<120)return s+' s';if(s<7200)return "
    "Math.round(s/60)+' min';return (s/3600).toFixed(1)+' h';}\n"
    "function since(t){return t?(Date.now()-Date.parse(t))/1000:null;}\n"
    "function rows(id,list,bad){const b=document.getElementById(id);"
    "b.replaceChildren();for(const cells of list){const tr="
    "document.createElement('tr');if(bad&&bad(cells))tr.className='bad';"
    "for(const c of cells){const td=document.createElement('td');"
    "if(c&&typeof c==='object'){const a=document.createElement('a');"
    "a.href=c.href;a.textContent=String(c.text);td.appendChild(a);}else "
    "td.textContent=c===null||c===undefined?'-':String(c);"
    "tr.appendChild(td);}b.appendChild(tr);}}\n",

    "let chart=null,bdTick=0;\n"
    "async function breakdown(){const docs=await Promise.all([1,8,24].map("
    "n=>get('/api/v1/breakdown?hours='+n)));const out=[];\n"
    "for(const [k,label] of [['hot_folders','hot folder'],['accounts',"
    "'account'],['operators','operator']]){const m=new Map();"
    "docs.forEach((d,i)=>{for(const c of d[k]){if(!m.has(c.name))"
    "m.set(c.name,[0,0,0]);m.get(c.name)[i]=c.pages;}});"
    "for(const [n,v] of [...m.entries()].sort((a,b)=>b[1][2]-a[1][2]))"
    "out.push([label,n||'-',v[0],v[1],v[2]]);}rows('breakdown',out);}\n"
    "function draw(pages){const c=document.getElementById('chart');"
    "const labels=pages.map((_,i)=>i-pages.length+1);"
    "if(!chart){chart=new Chart(c,{type:'line',data:{labels,datasets:[{"
    "label:'pages/min',data:pages,borderColor:'#2a6f97',fill:false,"
    "tension:.2,pointRadius:0}]},options:{animation:false,"
    "scales:{y:{beginAtZero:true}}}});}else{chart.data.labels=labels;"
    "chart.data.datasets[0].data=pages;chart.update();}"
    "c.dataset.total=String(pages.reduce((a,b)=>a+b,0));"
    "c.dataset.updates=String(Number(c.dataset.updates)+1);}\n"
    "async function refresh(){try{\n"
    "const [st,jobs,tp]=await Promise.all([get('/api/v1/status'),"
    "get('/api/v1/jobs?limit=15'),get('/api/v1/throughput?minutes=60')]);\n"
    "const pf=st.pages_finished,q=st.queue;\n"
    "set('rate',pf.per_hour_now);set('hour',pf.last_60min);"
    "set('queue',q.pages_queued);set('oldest',dur(q.oldest_queued_age_s));"
    "set('billable',st.billable_pages);set('lowconf',"
    "st.low_confidence_pages);\n"
    "const perMin=pf.last_60min/60;set('drain',q.pages_queued===0?'0 s':"
    "perMin>0?dur(60*q.pages_queued/perMin):'-');\n"
    "rows('workers',st.workers.map(w=>[w.slot,w.state,w.job,w.page,"
    "dur(since(w.started_at))]));\n"
    "rows('nodes',st.nodes.map(n=>[n.node,n.role,n.state,n.slots,n.busy,"
    "n.pages_last_hour,n.load1===null?null:n.load1.toFixed(2),"
    "n.heartbeat_age_s===null?null:dur(n.heartbeat_age_s)+' ago']),"
    "c=>c[2]!=='up');\n"
    "rows('states',Object.entries(st.jobs));\n"
    "rows('jobs',jobs.jobs.map(j=>[{href:'/jobs/'+j.id,text:j.id},"
    "j.work_order,j.account,j.pages,"
    "j.billable_pages,j.state,j.finished_at?dur((Date.parse("
    "j.finished_at)-Date.parse(j.created_at))/1000):dur(since("
    "j.created_at))]),c=>c[5]==='failed');\n"
    "rows('failures',st.failed_jobs.concat(st.held_jobs).map(j=>[{href:"
    "'/jobs/'+j.id,text:j.id},"
    "j.work_order,j.state,j.error||j.hold_reason]),c=>c[2]==='failed');\n"
    "rows('rejected',st.rejected_batches.map(r=>[r.at,r.reason,r.detail]));"
    "rows('waiting',st.waiting_batches.map(w=>[w.hot_folder,w.batch,"
    "dur(w.waiting_s)]));"
    "rows('review',st.review_jobs.map(j=>[{href:'/jobs/'+j.id,text:j.id},"
    "j.work_order,j.pages+' page(s)',j.reasons]));"
    "\n"
    "draw(tp.pages);if(bdTick++%15===0)await breakdown();\n"
    "set('err','');document.body.dataset.state='ok';\n"
    "}catch(e){set('err',e.message);document.body.dataset.state="
    "'error';}}\n"
    "refresh();setInterval(refresh,2000);\n"
    "</script></body></html>\n",
};

/* `/jobs/N`: one job and its pages; the script reads /api/v1/jobs/N. */
static const char *const job_page[] = {
    "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
    "<title>pagemill job</title>\n"
    "<style>\n"
    "body{font:14px/1.4 sans-serif;margin:1em;background:#f6f6f4;"
    "color:#222}h1{font-size:20px}\n"
    ".card{background:#fff;border:1px solid #ddd;border-radius:6px;"
    "padding:10px;margin-bottom:12px}\n"
    "table{border-collapse:collapse;width:100%}td,th{text-align:left;"
    "padding:2px 6px;border-bottom:1px solid #eee;font-size:13px}\n"
    "tr.bad td{background:#fde8e8}tr.flag td{background:#fff6d6}"
    "#err{color:#b00}\n"
    "</style></head>\n<body data-state=\"loading\">\n"
    "<p><a href=\"/\">dashboard</a></p>\n"
    "<h1>job <span id=\"id\">-</span> <span id=\"err\"></span></h1>\n"
    "<div class=\"card\"><table><tbody id=\"fields\"></tbody></table>"
    "</div>\n"
    "<div class=\"card\"><table><thead><tr><th>page</th><th>state</th>"
    "<th>source</th><th>rotation</th><th>skew</th><th>blank</th>"
    "<th>confidence</th><th>words</th><th>ocr ms</th><th>total ms</th>"
    "<th>attempts</th><th>error</th></tr></thead><tbody id=\"pages\">"
    "</tbody></table></div>\n"
    "<script>\n'use strict';\n"
    "const tok=(()=>{const m=location.hash.match(/token=([^&]+)/);"
    "if(m){sessionStorage.setItem('pmtoken',m[1]);"
    "history.replaceState(null,'',location.pathname);}"
    "return sessionStorage.getItem('pmtoken');})();\n"
    "const id=location.pathname.split('/').pop();\n"
    "function cell(tr,v){const td=document.createElement('td');"
    "td.textContent=v===null||v===undefined?'-':String(v);"
    "tr.appendChild(td);}\n"
    "function num(v,d){return typeof v==='number'?v.toFixed(d):v;}\n"
    "async function refresh(){try{\n"
    "const r=await fetch('/api/v1/jobs/'+encodeURIComponent(id),{headers:"
    "tok?{Authorization:'Bearer '+tok}:{}});\n"
    "if(!r.ok)throw new Error('job '+id+': '+r.status);\n"
    "const d=await r.json(),j=d.job;\n"
    "document.getElementById('id').textContent=String(j.id);\n"
    "const f=document.getElementById('fields');f.replaceChildren();\n"
    "for(const k of ['state','work_order','account','batch','operator',"
    "'profile','pages','pages_done','pages_failed','pages_blank',"
    "'billable_pages','billing_month','hold_reason','error','output_path',"
    "'created_at','finished_at']){const tr=document.createElement('tr');"
    "cell(tr,k);cell(tr,j[k]);f.appendChild(tr);}\n"
    "const b=document.getElementById('pages');b.replaceChildren();\n"
    "for(const p of d.pages){const tr=document.createElement('tr');"
    "if(p.state==='failed')tr.className='bad';else if(p.low_confidence)"
    "tr.className='flag';\n"
    "for(const v of [p.page,p.state,p.source,p.rotation,num(p.skew,2),"
    "p.blank,num(p.confidence,1),p.words,num(p.ms&&p.ms.ocr,0),"
    "num(p.ms&&p.ms.total,0),p.attempts,p.error])cell(tr,v);"
    "b.appendChild(tr);}\n"
    "document.getElementById('err').textContent='';"
    "document.body.dataset.state='ok';\n"
    "}catch(e){document.getElementById('err').textContent=e.message;"
    "document.body.dataset.state='error';}}\n"
    "refresh();setInterval(refresh,5000);\n"
    "</script></body></html>\n",
};

/* Joins `parts` into the response as HTML. */
static void send_page(pm__http_resp_t *r, const char *const *parts, size_t n)
{
    size_t len = 0, off = 0;
    char *html;

    for (size_t i = 0; i < n; i++)
        len += strlen(parts[i]);
    html = pm_malloc(len + 1);
    if (html == NULL) {
        pm__http_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        memcpy(html + off, parts[i], strlen(parts[i]));
        off += strlen(parts[i]);
    }
    html[len] = '\0';
    r->status = MHD_HTTP_OK;
    r->type = "text/html; charset=utf-8";
    r->body = html;
    r->len = len;
}

void pm__http_job_page(pm__http_req_t *q, pm__http_resp_t *r)
{
    (void)q;
    send_page(r, job_page, sizeof(job_page) / sizeof(*job_page));
}

void pm__http_dashboard(pm__http_req_t *q, pm__http_resp_t *r)
{
    (void)q;
    send_page(r, page, sizeof(page) / sizeof(*page));
}

void pm__http_chartjs(pm__http_req_t *q, pm__http_resp_t *r)
{
    unsigned char *js = NULL;
    size_t len = 0;
    int err = pm_read_file(PM__CHARTJS_PATH, JS_MAX, &js, &len);

    (void)q;
    if (err != 0) {
        pm__http_error(r, MHD_HTTP_NOT_FOUND,
                       "Chart.js is not installed (Debian libjs-chart.js)");
        return;
    }
    r->status = MHD_HTTP_OK;
    r->type = "text/javascript; charset=utf-8";
    r->body = (char *)js;
    r->len = len;
}

(function(){
var main=document.getElementById('main'),form=document.getElementById('filter'),busy=false,
again=false;
function url(){var u=main.getAttribute('data-refresh');if(!form)return u;
var p=new URLSearchParams(new FormData(form));history.replaceState(null,'','/?'+p);
p.set('fragment','1');return '/?'+p;}
function refresh(){if(busy){again=true;return;}busy=true;fetch(url(),{cache:'no-store'})
.then(function(r){return r.ok?r.text():null}).then(function(t){if(t!==null&&t!==main.innerHTML)
main.innerHTML=t;}).catch(function(){}).then(function(){busy=false;
if(again){again=false;refresh();}});}
if(form){form.addEventListener('input',refresh);form.addEventListener('submit',
function(e){e.preventDefault();refresh();});}
setInterval(refresh,5000);
})();

// The deposit's card form. Card details go from this page to Stripe through Stripe.js; the
// marketplace receives only the payment method's id, and confirms the payment with it.
(function () {
  'use strict';
  var form = document.getElementById('pay-form');
  if (!form || typeof Stripe !== 'function') {
    var missing = document.getElementById('pay-unavailable');
    if (missing) { missing.hidden = false; }
    return;
  }
  var stripe = Stripe(form.dataset.key);
  var card = stripe.elements().create('card');
  card.mount('#card-element');
  var button = document.getElementById('pay-button');
  var problem = document.getElementById('pay-problem');
  var show = function (text) {
    problem.textContent = text;
    problem.hidden = false;
    button.disabled = false;
  };
  var done = function () { window.location.assign(form.dataset.done); };

  // Stripe.js makes a PaymentMethod; localstripe, the test double, implements tokens only, whose
  // card id Stripe accepts as a payment method too.
  var paymentMethod = async function () {
    var made = await stripe.createPaymentMethod({ type: 'card', card: card });
    if (made && made.paymentMethod) { return made.paymentMethod.id; }
    if (made && made.error) { throw new Error(made.error.message); }
    var token = await stripe.createToken(card);
    if (token && token.token && token.token.card) { return token.token.card.id; }
    throw new Error((token && token.error && token.error.message) || 'The card could not be read.');
  };

  form.addEventListener('submit', async function (event) {
    event.preventDefault();
    button.disabled = true;
    problem.hidden = true;
    try {
      var body = new URLSearchParams();
      body.set('csrf_token', form.dataset.csrf);
      body.set('payment_method', await paymentMethod());
      var response = await fetch(form.action, {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'Accept': 'application/json' },
        body: body
      });
      if (!response.ok) {
        var detail = await response.json().catch(function () { return {}; });
        show(detail.detail || 'The payment could not be made. Nothing was charged; try again.');
        return;
      }
      var result = await response.json();
      if (result.status === 'paid') { done(); return; }
      if (result.status === 'needs_action') {
        var auth = await stripe.confirmCardPayment(result.client_secret);
        if (auth && auth.error) { show(auth.error.message || 'The bank did not confirm the payment.'); return; }
        done();
        return;
      }
      show(result.message || 'The card was declined.');
    } catch (e) {
      show(e.message || 'The payment could not be made. Nothing was charged; try again.');
    }
  });
}());

// response_mode=form_post: send the authorization response to the relying party.
document.getElementById("form-post").submit();
